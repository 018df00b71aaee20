package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// bareServer is the baseline: a plain net/http server whose handler reads
// the request body and answers the DynamoDB response body of the same
// operation (the same size as Meridian's), with nothing in between: no
// signature check, no JSON decoding, no store.
type bareServer struct {
	url  string
	srv  *http.Server
	done chan error
}

// startBare serves on host:0. getBody is what a GetItem answers.
func startBare(host string, getBody []byte) (*bareServer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("baseline listener: %w", err)
	}
	putBody := putResponse()
	putLen, getLen := strconv.Itoa(len(putBody)), strconv.Itoa(len(getBody))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, n := putBody, putLen
		if r.Header.Get("X-Amz-Target") == targetGet {
			body, n = getBody, getLen
		}
		hd := w.Header()
		hd.Set("Content-Type", amzJSON)
		hd.Set("Content-Length", n)
		_, _ = w.Write(body)
	})
	// The same server settings as a region node's API port.
	b := &bareServer{
		url: "http://" + ln.Addr().String(),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		done: make(chan error, 1),
	}
	go func() {
		err := b.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		b.done <- err
	}()
	return b, nil
}

// stop closes the server and waits for Serve to return.
func (b *bareServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	return errors.Join(err, <-b.done)
}
