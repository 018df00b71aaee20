// Package compute is the instance-group supervisor of a region node: Meridian's
// counterpart of EC2 Auto Scaling and ECS services.
//
// A group (GroupSpec) runs one command as several supervised child
// processes, each on its own port of the region's address. The Supervisor
// starts the group's desired number of instances, registers an instance
// with the load balancer (Targets) only once its health check has passed,
// drains, stops and replaces instances that exit or fail their checks,
// backs off when a command cannot start, scales groups between their
// minimum and maximum by target tracking on the load balancer's per-target
// statistics, and rolls configuration changes out one instance at a time.
// Instances never outlive the supervisor's process: each child is started
// with a parent-death signal (SIGKILL), even when the node is killed with
// SIGKILL itself.
//
// Imported by the region node, which feeds it the topology's groups and
// hands it the regional load balancer as its Targets. It imports nothing
// from Meridian.
package compute
