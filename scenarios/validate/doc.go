// Package validate owns the model's check against published and measured
// figures: the embedded cases (cases.yaml: DeepEP's README rows, DeepSeek's
// knee and the ISCA'25 decode arithmetic, with their sources and
// tolerances, and the rows not modelled with a reason) and the runner that
// predicts each case, in parallel, sharing runs between cases that read the
// same preset. `moesim validate` prints its results through
// scenarios/report; docs/validation.md discusses them.
//
// # Usage
//
//	rs := validate.Validate(validate.ValidationCases())
//	fmt.Println(validate.MedianAbsError(rs))
//
// Imports: scenarios, scenarios/schedule, scenarios/search (and below).
package validate
