package scenarios

import (
	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/workload"
)

// The scenario file's sections that a lower package reads are that
// package's types; these names let a Scenario spell them as the file does
// (model:, workload:, compute:, schedule.kind).
type (
	// Model is the model.* section (package model).
	Model = model.Model
	// Workload is the workload.* section (package workload).
	Workload = workload.Workload
	// Compute is the compute.* section (package compute).
	Compute = compute.Compute
	// ScheduleKind is schedule.kind (package schedule).
	ScheduleKind = schedule.ScheduleKind
)
