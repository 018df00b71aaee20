package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches and parses one node's /metrics.
func scrape(ctx context.Context, client *http.Client, adminAddr string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", adminAddr, err)
	}
	// Ask for the text format: it is what TextParser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", adminAddr, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", adminAddr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics of %s: %w", adminAddr, err)
	}
	return mfs, nil
}

// hist is a cumulative Prometheus histogram: counts[i] observations ≤
// bounds[i]; count includes those above the last bound.
type hist struct {
	bounds []float64
	counts []float64
	count  float64
	sum    float64
}

// above is how many observations exceed bound, which must be one of the
// histogram's bucket bounds (0 if it is not).
func (h hist) above(bound float64) float64 {
	for i, b := range h.bounds {
		if b == bound {
			return h.count - h.counts[i]
		}
	}
	return 0
}

// histogramOf sums every series of a histogram family (all label values).
func histogramOf(mfs map[string]*dto.MetricFamily, name string) hist {
	var h hist
	mf := mfs[name]
	if mf == nil {
		return h
	}
	for _, m := range mf.GetMetric() {
		ph := m.GetHistogram()
		if ph == nil {
			continue
		}
		h.add(ph)
	}
	return h
}

func (h *hist) add(ph *dto.Histogram) {
	bs := ph.GetBucket()
	if h.bounds == nil {
		for _, b := range bs {
			h.bounds = append(h.bounds, b.GetUpperBound())
		}
		h.counts = make([]float64, len(bs))
	}
	for i, b := range bs {
		if i < len(h.counts) && b.GetUpperBound() == h.bounds[i] {
			h.counts[i] += float64(b.GetCumulativeCount())
		}
	}
	h.count += float64(ph.GetSampleCount())
	h.sum += ph.GetSampleSum()
}

// plus adds o to h (same buckets).
func (h hist) plus(o hist) hist {
	if h.bounds == nil {
		return o
	}
	if o.bounds == nil {
		return h
	}
	out := hist{bounds: h.bounds, counts: make([]float64, len(h.counts)), count: h.count + o.count, sum: h.sum + o.sum}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(o.counts) {
			out.counts[i] += o.counts[i]
		}
	}
	return out
}

// minus is what was observed between snapshot o and snapshot h.
func (h hist) minus(o hist) hist {
	if o.bounds == nil {
		return h
	}
	out := hist{bounds: h.bounds, counts: make([]float64, len(h.counts)), count: h.count - o.count, sum: h.sum - o.sum}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(o.counts) {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile estimates the q-th quantile by linear interpolation inside the
// bucket that holds it, as Prometheus' histogram_quantile does. It returns
// +Inf when the quantile lies above the last bound, and NaN without samples.
func (h hist) quantile(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	rank := q * h.count
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i == len(h.counts) {
		return math.Inf(1)
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.bounds[i-1], h.counts[i-1]
	}
	inBucket := h.counts[i] - below
	if inBucket <= 0 {
		return h.bounds[i]
	}
	return lower + (h.bounds[i]-lower)*(rank-below)/inBucket
}

// bucketBound is the upper bound of the bucket holding the q-th quantile:
// the figure the histogram guarantees, where quantile is an estimate.
func (h hist) bucketBound(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	rank := q * h.count
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i == len(h.counts) {
		return math.Inf(1)
	}
	return h.bounds[i]
}

func (h hist) mean() float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	return h.sum / h.count
}

// counterOf sums every series of a counter family whose labels include the
// given name=value pairs (none: all series).
func counterOf(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	total := 0.0
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		total += m.GetCounter().GetValue()
	}
	return total
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
