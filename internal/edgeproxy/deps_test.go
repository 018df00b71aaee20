package edgeproxy

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingOfMeridian keeps the package a leaf: the edge process
// wires it to health, RTT and the network through its small interfaces. Only
// the leaf helpers it shares with the regional balancer are allowed.
func TestImportsNothingOfMeridian(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f == "proxy.go" && (af.Doc == nil || !strings.HasPrefix(af.Doc.Text(), "Package edgeproxy is ")) {
			t.Errorf("proxy.go lost the package doc")
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch path {
			case "github.com/meridian-platform/meridian/internal/h1", "github.com/meridian-platform/meridian/internal/loglimit":
				continue
			}
			if strings.HasPrefix(path, "github.com/meridian-platform/meridian/") {
				t.Errorf("%s imports %s; the edge proxy imports nothing of Meridian's", f, path)
			}
		}
	}
}
