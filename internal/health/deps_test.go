package health_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestDependencies keeps the package a leaf: the edge, the region and the
// CLI import it, so it must import no other Meridian package (the DNS
// server's interface is checked from a test only).
func TestDependencies(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Doc == "" || !strings.HasPrefix(pkg.Doc, "Package health ") {
		t.Errorf("package doc: got %q, want one starting %q", pkg.Doc, "Package health ")
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/meridian-platform/meridian/") {
			t.Errorf("non-test code imports %s; internal/health must not depend on other Meridian packages", imp)
		}
	}
}
