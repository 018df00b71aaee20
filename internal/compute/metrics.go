package compute

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	instances *prometheus.GaugeVec
	desired   *prometheus.GaugeVec
	scaling   *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_compute_instances",
			Help: "Instances of the group by state: starting (not yet healthy), healthy (registered with the load balancer), draining (being stopped).",
		}, []string{"group", "state"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_compute_desired_instances",
			Help: "How many instances the group should run, after autoscaling.",
		}, []string{"group"}),
		scaling: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_compute_scaling_actions_total",
			Help: "Autoscaling decisions that changed the group's desired count, by direction (out, in).",
		}, []string{"group", "direction"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_compute_instance_failures_total",
			Help: "Instances that failed and were replaced, by reason (start_failed, exited, unhealthy, start_timeout).",
		}, []string{"group", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.instances, m.desired, m.scaling, m.failures)
	}
	return m
}

func (m *metrics) forget(group string) {
	for _, st := range []string{stateStarting.String(), stateHealthy.String(), stateDraining.String()} {
		m.instances.DeleteLabelValues(group, st)
	}
	m.desired.DeleteLabelValues(group)
}
