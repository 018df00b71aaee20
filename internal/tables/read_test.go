package tables

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/tables/expr"
)

// seeded returns a random source and logs its seed.
func seeded(t *testing.T) *rand.Rand {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0))
}

func TestQueryKeyConditions(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "nums", "N")
	for _, n := range []string{"-10", "-1.5", "0", "0.25", "1", "2", "10", "100"} {
		put(t, e, "nums", attr.Item{"pk": sv("p"), "sk": nv(n)})
	}
	put(t, e, "nums", attr.Item{"pk": sv("other"), "sk": nv("1")})
	createTable(t, e, "strs", "S")
	for _, s := range []string{"a", "ab", "abc", "abd", "b", "b\x00", "ba"} {
		put(t, e, "strs", attr.Item{"pk": sv("p"), "sk": sv(s)})
	}
	tests := []struct {
		table, cond string
		values      vals
		backward    bool
		want        string
	}{
		{"nums", "pk = :p", vals{":p": sv("p")}, false, "[-10 -1.5 0 0.25 1 2 10 100]"},
		{"nums", "pk = :p", vals{":p": sv("p")}, true, "[100 10 2 1 0.25 0 -1.5 -10]"},
		{"nums", "pk = :p AND sk = :v", vals{":p": sv("p"), ":v": nv("0.25")}, false, "[0.25]"},
		{"nums", "pk = :p AND sk < :v", vals{":p": sv("p"), ":v": nv("0")}, false, "[-10 -1.5]"},
		{"nums", "pk = :p AND sk <= :v", vals{":p": sv("p"), ":v": nv("0")}, false, "[-10 -1.5 0]"},
		{"nums", "pk = :p AND sk > :v", vals{":p": sv("p"), ":v": nv("2")}, false, "[10 100]"},
		{"nums", "pk = :p AND sk >= :v", vals{":p": sv("p"), ":v": nv("2")}, true, "[100 10 2]"},
		{"nums", "pk = :p AND sk BETWEEN :a AND :b", vals{":p": sv("p"), ":a": nv("-1.5"), ":b": nv("1")}, false, "[-1.5 0 0.25 1]"},
		{"nums", "pk = :p AND :v < sk", vals{":p": sv("p"), ":v": nv("10")}, false, "[100]"},
		{"strs", "pk = :p AND begins_with(sk, :v)", vals{":p": sv("p"), ":v": sv("ab")}, false, "[ab abc abd]"},
		{"strs", "pk = :p AND begins_with(sk, :v)", vals{":p": sv("p"), ":v": sv("b")}, true, "[ba b\x00 b]"},
		{"strs", "pk = :p AND sk > :v", vals{":p": sv("p"), ":v": sv("b")}, false, "[b\x00 ba]"},
		{"strs", "pk = :p AND sk <= :v", vals{":p": sv("p"), ":v": sv("ab")}, false, "[a ab]"},
		{"strs", "pk = :p", vals{":p": sv("none")}, false, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.table+" "+tc.cond, func(t *testing.T) {
			fwd := !tc.backward
			out, err := e.Query(ctx, &QueryInput{TableName: tc.table, KeyCondition: parseKC(t, e, tc.table, "", tc.cond, tc.values), ScanIndexForward: &fwd})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range out.Items {
				if tc.table == "nums" {
					got = append(got, it["sk"].N.String())
				} else {
					got = append(got, it["sk"].S)
				}
			}
			if fmt.Sprint(got) != tc.want && !(len(got) == 0 && tc.want == "[]") {
				t.Fatalf("got %q, want %q", fmt.Sprint(got), tc.want)
			}
			if out.Count != len(got) || out.ScannedCount != len(got) {
				t.Fatalf("Count %d ScannedCount %d, want %d", out.Count, out.ScannedCount, len(got))
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "N", gsi("by-g", "g", ""))
	proj, _ := expr.NewEnv(nil, nil).ParseProjection("a")
	tests := []struct {
		name string
		in   QueryInput
		msg  string
	}{
		{"wrong partition type", QueryInput{TableName: "items", KeyCondition: parseKC(t, e, "items", "", "pk = :v", vals{":v": nv("1")})},
			"One or more parameter values were invalid: Condition parameter type does not match schema type"},
		{"wrong sort type", QueryInput{TableName: "items", KeyCondition: parseKC(t, e, "items", "", "pk = :v AND sk > :s", vals{":v": sv("1"), ":s": sv("x")})},
			"One or more parameter values were invalid: Condition parameter type does not match schema type"},
		{"no key condition", QueryInput{TableName: "items"}, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."},
		{"unknown index", QueryInput{TableName: "items", IndexName: "nope", KeyCondition: parseKC(t, e, "items", "", "pk = :v", vals{":v": sv("1")})},
			"The table does not have the specified index: nope"},
		{"consistent GSI", QueryInput{TableName: "items", IndexName: "by-g", ConsistentRead: true, KeyCondition: parseKC(t, e, "items", "by-g", "g = :v", vals{":v": sv("1")})},
			"Consistent reads are not supported on global secondary indexes"},
		{"projected without index", QueryInput{TableName: "items", Select: SelectAllProjectedAttributes, KeyCondition: parseKC(t, e, "items", "", "pk = :v", vals{":v": sv("1")})},
			"ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"},
		{"count with projection", QueryInput{TableName: "items", Select: SelectCount, Projection: proj, KeyCondition: parseKC(t, e, "items", "", "pk = :v", vals{":v": sv("1")})},
			"Cannot specify the ProjectionExpression when choosing to get COUNT"},
		{"bad start key", QueryInput{TableName: "items", ExclusiveStartKey: attr.Item{"pk": sv("1")}, KeyCondition: parseKC(t, e, "items", "", "pk = :v", vals{":v": sv("1")})},
			"The provided starting key is invalid: The provided key element does not match the schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Query(ctx, &tc.in)
			wantError(t, err, CodeValidation, tc.msg)
		})
	}
}

func TestQueryFilterLimitSelect(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "N")
	for i := range 10 {
		put(t, e, "items", attr.Item{"pk": sv("p"), "sk": nv(fmt.Sprint(i)), "even": {Kind: attr.KindBOOL, BOOL: i%2 == 0}})
	}
	kc := parseKC(t, e, "items", "", "pk = :p", vals{":p": sv("p")})
	filter := parseCond(t, "even = :t", vals{":t": {Kind: attr.KindBOOL, BOOL: true}})
	// Limit counts items evaluated, before the filter.
	out, err := e.Query(ctx, &QueryInput{TableName: "items", KeyCondition: kc, Filter: filter, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if out.ScannedCount != 3 || out.Count != 2 || out.LastEvaluatedKey["sk"].N.String() != "2" {
		t.Fatalf("got Count %d ScannedCount %d LEK %v, want 2, 3, sk 2", out.Count, out.ScannedCount, out.LastEvaluatedKey)
	}
	out, err = e.Query(ctx, &QueryInput{TableName: "items", KeyCondition: kc, Filter: filter, Select: SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 5 || out.ScannedCount != 10 || out.Items != nil || out.LastEvaluatedKey != nil {
		t.Fatalf("COUNT got %+v", out)
	}
}

// TestPaginationProperty: Query and Scan, with random limits and both
// directions, return every item exactly once and in order.
func TestPaginationProperty(t *testing.T) {
	rng := seeded(t)
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "items", "S", gsi("by-g", "g", "sk"))
	want := map[string]map[string]bool{}
	total := 0
	for range 300 {
		pk := fmt.Sprint("p", rng.IntN(4))
		sk := fmt.Sprintf("%x", rng.Uint32()%5000)
		item := attr.Item{"pk": sv(pk), "sk": sv(sk)}
		if rng.IntN(3) > 0 {
			item["g"] = sv(fmt.Sprint("g", rng.IntN(3)))
		}
		put(t, e, "items", item)
		if want[pk] == nil {
			want[pk] = map[string]bool{}
		}
		if !want[pk][sk] {
			total++
		}
		want[pk][sk] = true
	}
	for pk, sks := range want {
		for _, fwd := range []bool{true, false} {
			var got []string
			var start attr.Item
			for pages := 0; ; pages++ {
				if pages > 400 {
					t.Fatal("query does not terminate")
				}
				out, err := e.Query(ctx, &QueryInput{TableName: "items", KeyCondition: parseKC(t, e, "items", "", "pk = :p", vals{":p": sv(pk)}),
					ScanIndexForward: &fwd, Limit: 1 + rng.IntN(20), ExclusiveStartKey: start})
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range out.Items {
					got = append(got, it["sk"].S)
				}
				if start = out.LastEvaluatedKey; start == nil {
					break
				}
			}
			var exp []string
			for sk := range sks {
				exp = append(exp, sk)
			}
			sort.Strings(exp)
			if !fwd {
				sort.Sort(sort.Reverse(sort.StringSlice(exp)))
			}
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("query %s forward=%v got %v, want %v", pk, fwd, got, exp)
			}
		}
	}
	// GSI query pages: every item with g = g1, sorted by sk.
	var gsiWant []string
	for pk, sks := range want {
		for sk := range sks {
			if it := get(t, e, "items", attr.Item{"pk": sv(pk), "sk": sv(sk)}); it["g"].S == "g1" {
				gsiWant = append(gsiWant, sk+"/"+pk)
			}
		}
	}
	sort.Strings(gsiWant)
	var gsiGot []string
	var start attr.Item
	for {
		out, err := e.Query(ctx, &QueryInput{TableName: "items", IndexName: "by-g", KeyCondition: parseKC(t, e, "items", "by-g", "g = :g", vals{":g": sv("g1")}),
			Limit: 1 + rng.IntN(20), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			gsiGot = append(gsiGot, it["sk"].S+"/"+it["pk"].S)
		}
		if start = out.LastEvaluatedKey; start == nil {
			break
		}
	}
	sort.Strings(gsiGot) // ties on sk order by table key, not by this string
	if fmt.Sprint(gsiGot) != fmt.Sprint(gsiWant) {
		t.Fatalf("GSI query got %d items, want %d", len(gsiGot), len(gsiWant))
	}
	// Scan, unsegmented and in parallel segments, on the table and the GSI.
	for _, index := range []string{"", "by-g"} {
		for _, segments := range []int{0, 1, 3, 7} {
			seen := map[string]int{}
			n := max(segments, 1)
			for seg := range n {
				var start attr.Item
				for {
					in := &ScanInput{TableName: "items", IndexName: index, Limit: 1 + rng.IntN(40), ExclusiveStartKey: start, TotalSegments: segments}
					if segments > 0 {
						in.Segment = seg
					}
					out, err := e.Scan(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range out.Items {
						seen[it["pk"].S+"/"+it["sk"].S]++
					}
					if start = out.LastEvaluatedKey; start == nil {
						break
					}
				}
			}
			wantN := total
			if index != "" {
				wantN = 0
				for pk, sks := range want {
					for sk := range sks {
						if _, ok := get(t, e, "items", attr.Item{"pk": sv(pk), "sk": sv(sk)})["g"]; ok {
							wantN++
						}
					}
				}
			}
			if len(seen) != wantN {
				t.Fatalf("scan index %q segments %d saw %d items, want %d", index, segments, len(seen), wantN)
			}
			for k, c := range seen {
				if c != 1 {
					t.Fatalf("scan index %q segments %d returned %s %d times", index, segments, k, c)
				}
			}
		}
	}
}

func TestScanSegmentErrors(t *testing.T) {
	e, _ := newEngine(t, Config{})
	createTable(t, e, "items", "")
	_, err := e.Scan(context.Background(), &ScanInput{TableName: "items", Segment: 2, TotalSegments: 2})
	wantError(t, err, CodeValidation, "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2")
	_, err = e.Scan(context.Background(), &ScanInput{TableName: "items", Segment: 1})
	wantError(t, err, CodeValidation, "The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
}

func TestPageSizeLimit(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	createTable(t, e, "big", "N")
	blob := string(make([]byte, 300<<10))
	for i := range 8 {
		put(t, e, "big", attr.Item{"pk": sv("p"), "sk": nv(fmt.Sprint(i)), "blob": sv(blob)})
	}
	out, err := e.Query(ctx, &QueryInput{TableName: "big", KeyCondition: parseKC(t, e, "big", "", "pk = :p", vals{":p": sv("p")})})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 4 || out.LastEvaluatedKey == nil {
		t.Fatalf("1 MB page got %d items, LEK %v; want 4 and a key", out.Count, out.LastEvaluatedKey)
	}
}

func TestLocalSecondaryIndex(t *testing.T) {
	e, _ := newEngine(t, Config{})
	ctx := context.Background()
	_, err := e.CreateTable(ctx, &CreateTableInput{
		TableName: "threads",
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "sk", AttributeType: "S"},
			{AttributeName: "at", AttributeType: "N"}},
		KeySchema:             schemaOf("pk", "sk"),
		LocalSecondaryIndexes: []SecondaryIndex{{IndexName: "by-time", KeySchema: schemaOf("pk", "at"), Projection: Projection{ProjectionType: ProjectionInclude, NonKeyAttributes: []string{"title"}}}},
		BillingMode:           BillingPayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, sk := range []string{"c", "a", "b"} {
		put(t, e, "threads", attr.Item{"pk": sv("f"), "sk": sv(sk), "at": nv(fmt.Sprint(10 - i)), "title": sv("t" + sk), "body": sv("b" + sk)})
	}
	kc2, err := expr.NewEnv(map[string]string{"#at": "at"}, vals{":p": sv("f"), ":t": nv("8")}).ParseKeyCondition("pk = :p AND #at > :t", expr.KeySchema{Partition: "pk", Sort: "at"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Query(ctx, &QueryInput{TableName: "threads", IndexName: "by-time", KeyCondition: kc2})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 2 || out.Items[0]["sk"].S != "a" || out.Items[1]["sk"].S != "c" {
		t.Fatalf("LSI query got %v", out.Items)
	}
	if _, ok := out.Items[0]["body"]; ok {
		t.Fatalf("projected LSI item has a non-projected attribute: %v", out.Items[0])
	}
	// ALL_ATTRIBUTES on an LSI fetches the table item.
	out, err = e.Query(ctx, &QueryInput{TableName: "threads", IndexName: "by-time", KeyCondition: kc2, Select: SelectAllAttributes})
	if err != nil {
		t.Fatal(err)
	}
	if out.Items[0]["body"].S != "ba" {
		t.Fatalf("ALL_ATTRIBUTES LSI item got %v", out.Items[0])
	}
}
