package iam_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/meridian-platform/meridian/internal/iam"
	"github.com/meridian-platform/meridian/internal/sigv4"
	"github.com/meridian-platform/meridian/internal/store"
	"github.com/meridian-platform/meridian/internal/testcluster"
)

// TestKeyReplicates creates a key in one region and signs with it in another,
// as a user of `meridian up` does with the bootstrap key.
func TestKeyReplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-region cluster")
	}
	c := testcluster.New(t, testcluster.Options{Regions: []string{"us-east", "eu-west"}})
	master := filepath.Join(c.Topo.DataDir, "keys", "master.key")
	if err := iam.EnsureMasterKey(master); err != nil {
		t.Fatal(err)
	}
	east := keysFor(t, c.Store("us-east"), master)
	west := keysFor(t, c.Store("eu-west"), master)

	creds := filepath.Join(c.Topo.DataDir, "credentials")
	if _, err := iam.EnsureBootstrapCredentials(creds, "meridian"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ak, err := east.Bootstrap(ctx, creds, "meridian")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cred, err := west.Lookup(ctx, ak.ID)
		if err == nil {
			if cred.SecretAccessKey != ak.Secret || cred.Principal != iam.AdminPrincipal {
				t.Fatalf("eu-west: got %+v, want the bootstrap key's secret and principal admin", cred)
			}
			break
		}
		if !errors.Is(err, sigv4.ErrUnknownKey) {
			t.Fatalf("eu-west Lookup: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key stored in us-east did not reach eu-west within 20s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Bootstrapping the other region too is a no-op.
	if _, err := west.Bootstrap(ctx, creds, "meridian"); err != nil {
		t.Fatalf("Bootstrap in eu-west: %v", err)
	}
}

func keysFor(t *testing.T, st *store.Store, master string) *iam.Keys {
	t.Helper()
	k, err := iam.New(iam.Config{Store: st, MasterKeyFile: master})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}
