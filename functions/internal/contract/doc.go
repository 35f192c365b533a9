// Package contract holds the template contract tests: template.yaml checked
// against the Go code it deploys (functions and their folders, routes, IAM
// actions per function, the table's keys). It has no code of its own.
package contract
