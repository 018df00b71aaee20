package tables

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/tables/attr"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// TestGlobalTables runs the cross-region guarantees on one 3-region
// cluster, an engine per region.
func TestGlobalTables(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-region cluster")
	}
	c := testcluster.New(t, testcluster.Options{})
	regions := c.Regions()
	engines := map[string]*Engine{}
	for _, r := range regions {
		e, err := New(Config{Region: r, Regions: regions}, c.Store(r))
		if err != nil {
			t.Fatal(err)
		}
		engines[r] = e
	}
	ctx := context.Background()
	first := engines[regions[0]]
	createTable(t, first, "global", "", gsi("by-g", "g", ""))
	converge := func() { c.AwaitConverged(t, 20*time.Second) }
	converge()

	t.Run("table exists everywhere", func(t *testing.T) {
		for r, e := range engines {
			d, err := e.DescribeTable(ctx, &DescribeTableInput{TableName: "global"})
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if len(d.Table.Replicas) != len(regions) {
				t.Fatalf("%s replicas got %v", r, d.Table.Replicas)
			}
		}
	})

	t.Run("counters from every region sum exactly", func(t *testing.T) {
		const perRegion = 25
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Go(func() {
				for range perRegion {
					_, err := e.UpdateItem(ctx, &UpdateItemInput{TableName: "global", Key: attr.Item{"pk": sv("counter")},
						Update: parseUpdate(t, "ADD n :one, tags :t", vals{":one": nv("1"), ":t": ssv(e.cfg.Region)})})
					if err != nil {
						t.Errorf("ADD in %s: %v", e.cfg.Region, err)
						return
					}
				}
			})
		}
		wg.Wait()
		converge()
		for r, e := range engines {
			it := get(t, e, "global", attr.Item{"pk": sv("counter")})
			if want := nv(fmt.Sprint(perRegion * len(regions))); !attr.Equal(it["n"], want) {
				t.Fatalf("%s counter got %v, want %v", r, it["n"], want)
			}
			if want := ssv(regions...); !attr.Equal(it["tags"], want) {
				t.Fatalf("%s set got %v, want %v", r, it["tags"], want)
			}
		}
	})

	t.Run("concurrent puts converge to one winner", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, r := range regions[:2] {
			e := engines[r]
			wg.Go(func() {
				if _, err := e.PutItem(ctx, &PutItemInput{TableName: "global", Item: attr.Item{"pk": sv("contested"), "by": sv(r)}}); err != nil {
					t.Errorf("put in %s: %v", r, err)
				}
			})
		}
		wg.Wait()
		converge()
		var winner attr.Value
		for i, r := range regions {
			it := get(t, engines[r], "global", attr.Item{"pk": sv("contested")})
			if i == 0 {
				winner = it["by"]
			} else if !attr.Equal(it["by"], winner) {
				t.Fatalf("%s holds %v, %s holds %v", r, it["by"], regions[0], winner)
			}
		}
	})

	t.Run("write in one region is readable and queryable everywhere", func(t *testing.T) {
		put(t, engines[regions[1]], "global", attr.Item{"pk": sv("visible"), "g": sv("shared"), "v": nv("7")})
		converge()
		for r, e := range engines {
			if it := get(t, e, "global", attr.Item{"pk": sv("visible")}); !attr.Equal(it["v"], nv("7")) {
				t.Fatalf("%s GetItem got %v", r, it)
			}
			q, err := e.Query(ctx, &QueryInput{TableName: "global", IndexName: "by-g", KeyCondition: parseKC(t, e, "global", "by-g", "g = :g", vals{":g": sv("shared")})})
			if err != nil {
				t.Fatal(err)
			}
			if q.Count != 1 || q.Items[0]["pk"].S != "visible" {
				t.Fatalf("%s GSI query got %v", r, q.Items)
			}
		}
	})

	t.Run("TTL deletes replicate", func(t *testing.T) {
		if _, err := first.UpdateTimeToLive(ctx, &UpdateTimeToLiveInput{TableName: "global", TimeToLiveSpecification: TimeToLiveSpecification{Enabled: true, AttributeName: "exp"}}); err != nil {
			t.Fatal(err)
		}
		past := fmt.Sprint(time.Now().Add(-time.Minute).Unix())
		put(t, first, "global", attr.Item{"pk": sv("expiring"), "exp": nv(past), "g": sv("shared")})
		converge()
		n, err := engines[regions[2]].expire(ctx)
		if err != nil || n != 1 {
			t.Fatalf("expire in %s got %d, %v; want 1", regions[2], n, err)
		}
		converge()
		for r, e := range engines {
			if it := get(t, e, "global", attr.Item{"pk": sv("expiring")}); it != nil {
				t.Fatalf("%s still has the expired item %v", r, it)
			}
			q, err := e.Query(ctx, &QueryInput{TableName: "global", IndexName: "by-g", KeyCondition: parseKC(t, e, "global", "by-g", "g = :g", vals{":g": sv("shared")})})
			if err != nil || q.Count != 1 {
				t.Fatalf("%s GSI after expiry got %v, %v; want only the live item", r, q, err)
			}
		}
	})
}
