package testcluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/store"
)

func TestWriteInOneRegionReadInEvery(t *testing.T) {
	c := New(t, Options{})
	for i, r := range c.Regions() {
		c.Put(t, r, fmt.Sprintf("k%d", i), "from "+r)
		if got := c.Get(t, r, fmt.Sprintf("k%d", i)); got != "from "+r {
			t.Fatalf("read-your-writes in %s: got %q", r, got)
		}
	}
	c.AwaitConverged(t, 15*time.Second)
	for _, reader := range c.Regions() {
		for i, writer := range c.Regions() {
			if got := c.Get(t, reader, fmt.Sprintf("k%d", i)); got != "from "+writer {
				t.Fatalf("%s reads k%d = %q, want %q", reader, i, got, "from "+writer)
			}
		}
	}
}

func TestConcurrentWritesToOneItemPickOneWinnerEverywhere(t *testing.T) {
	c := New(t, Options{})
	var mu sync.Mutex
	var commits []store.Tag
	var wg sync.WaitGroup
	for _, r := range c.Regions() {
		wg.Go(func() {
			for i := range 20 {
				cm := c.Put(t, r, "hot", fmt.Sprintf("%s-%d", r, i))
				mu.Lock()
				commits = append(commits, store.Tag{TS: cm.TS, Origin: c.Store(r).Origin()})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.AwaitConverged(t, 15*time.Second)
	var winner store.Tag
	for _, tg := range commits {
		if winner.Compare(tg) < 0 {
			winner = tg
		}
	}
	for _, r := range c.Regions() {
		st, err := c.Store(r).Get(Key("hot"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Base.Tag != winner {
			t.Fatalf("%s keeps the write %v, want the latest acknowledged %v", r, st.Base.Tag, winner)
		}
	}
}

func TestCounterTotalsAreExactUnderConcurrentIncrements(t *testing.T) {
	c := New(t, Options{})
	const perRegion, workers = 150, 4
	var wg sync.WaitGroup
	for _, r := range c.Regions() {
		for w := range workers {
			wg.Go(func() {
				for i := range perRegion / workers * 1 {
					delta := "1"
					if (i+w)%5 == 0 {
						delta = "-0.5"
					}
					_, err := c.Store(r).Apply(context.Background(), store.Mutation{Key: Key("stock"),
						Counters: []store.CounterDelta{{Field: "n", Delta: delta}}})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	c.AwaitConverged(t, 20*time.Second)
	// Each worker does 37 increments: i = 0..36; (i+w)%5==0 for 7 or 8 of them.
	var want float64
	for range c.Regions() {
		for w := range workers {
			for i := range perRegion / workers {
				if (i+w)%5 == 0 {
					want -= 0.5
				} else {
					want++
				}
			}
		}
	}
	for _, r := range c.Regions() {
		st, err := c.Store(r).Get(Key("stock"))
		if err != nil {
			t.Fatal(err)
		}
		sum, err := st.CounterSum("n")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := sum.Float64()
		if f != want {
			t.Fatalf("%s counts %s, want exactly %v", r, sum, want)
		}
	}
}

func TestConvergesThroughPartialPartition(t *testing.T) {
	c := New(t, Options{})
	c.Partition("us-east", "eu-west")
	for i := range 50 {
		c.Put(t, "us-east", fmt.Sprintf("us%d", i), "us")
		c.Put(t, "eu-west", fmt.Sprintf("eu%d", i), "eu")
	}
	// us-east and eu-west cannot talk; both reach ap-south, which relays.
	c.AwaitConverged(t, 20*time.Second)
	if got := c.Get(t, "eu-west", "us49"); got != "us" {
		t.Fatalf("eu-west did not receive us-east's write through ap-south: %q", got)
	}
}

func TestOneWayPartitionStillConverges(t *testing.T) {
	c := New(t, Options{})
	c.PartitionOneWay("us-east", "eu-west")
	for i := range 30 {
		c.Put(t, "us-east", fmt.Sprintf("us%d", i), "us")
		c.Put(t, "eu-west", fmt.Sprintf("eu%d", i), "eu")
	}
	c.AwaitConverged(t, 20*time.Second)
}
