// Generated from operator/headway/core/vocabulary.py by `headway vocabulary`
// (make console): do not edit; a test fails when it drifts.
export const EXECUTION_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Blocked", "Paused", "Suspended", "Stopped"] as const;
export const TASK_PHASES = ["Pending", "Running", "Retrying", "Succeeded", "Failed", "Blocked", "Skipped", "Stopped"] as const;
export const REQUEST_FINISHED = ["Failed", "Rejected", "Succeeded"] as const;
export const AUDIT_EVENTS = ["OutputsProvided", "RecoveryRejected", "Retriggered", "StepRetriggered"] as const;
export const PHASE_CHECKBOX = "Allow the workflow status to be updated" as const;
