package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/meridian-platform/meridian/internal/compute"
)

// ParseGroup reads one instance group spec, as written under a region's
// `groups` (YAML, or JSON, which YAML reads too), strictly: an unknown
// field is an error naming its line. Durations are written with a unit,
// as strings in JSON ("10s"). The spec is validated.
func ParseGroup(data []byte) (compute.GroupSpec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var g compute.GroupSpec
	if err := dec.Decode(&g); err != nil {
		if errors.Is(err, io.EOF) {
			return compute.GroupSpec{}, errors.New("group spec is empty")
		}
		return compute.GroupSpec{}, describeYAMLError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return compute.GroupSpec{}, fmt.Errorf("line %d: a group spec is one YAML document", extra.Line)
	case !errors.Is(err, io.EOF):
		return compute.GroupSpec{}, describeYAMLError(err)
	}
	if len(g.Args) == 0 {
		g.Args = nil
	}
	if len(g.Env) == 0 {
		g.Env = nil
	}
	if err := g.Validate(); err != nil {
		return compute.GroupSpec{}, err
	}
	return g, nil
}
