package shop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

// testBrowser drives Debian's headless Chromium through the DevTools
// protocol over a pipe (--remote-debugging-pipe: NUL-terminated JSON on
// file descriptors 3 and 4): it loads the catalog, adds a mug to the cart
// with the page's own button, checks out, and screenshots the
// confirmation.
func testBrowser(t *testing.T, in *instance) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("SKIPPED: headless browser test needs %s: install the Debian package chromium (apt-get install -y chromium)", chromiumPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := startChromium(ctx, t)

	target := b.call(t, "Target.createTarget", map[string]any{"url": "about:blank"}, "")
	var tid struct{ TargetID string }
	unmarshal(t, target, &tid)
	attached := b.call(t, "Target.attachToTarget", map[string]any{"targetId": tid.TargetID, "flatten": true}, "")
	var sess struct{ SessionID string }
	unmarshal(t, attached, &sess)
	page := sess.SessionID

	b.call(t, "Page.navigate", map[string]any{"url": in.URL + "/"}, page)
	b.waitFor(t, page, "the catalog", `location.pathname === "/" && !!document.querySelector("#add-mug") && document.body.innerText.includes("served by `+in.Region+`")`)

	b.screenshot(t, page, "shop-catalog.png")
	b.eval(t, page, `document.querySelector("#add-mug").click(); true`)
	b.waitFor(t, page, "the cart with a mug", `location.pathname === "/cart" && !!document.querySelector("#checkout") && document.body.innerText.includes("Meridian mug") && document.querySelector("#cart-link").innerText === "Cart (1)"`)

	b.eval(t, page, `document.querySelector("#checkout").click(); true`)
	b.waitFor(t, page, "the order confirmation", `location.pathname.startsWith("/orders/") && !!document.querySelector("#confirmed")`)
	var orderID string
	unmarshal(t, b.eval(t, page, `document.querySelector("#order-id").textContent`), &orderID)

	b.screenshot(t, page, "shop-order.png")

	// The order the browser placed is in the region's tables.
	var o Order
	call(t, http.DefaultClient, "GET", in.URL+"/api/orders/"+orderID, "", http.StatusOK, &o)
	if len(o.Lines) != 1 || o.Lines[0].ProductID != "mug" || o.Lines[0].Quantity != 1 || o.Region != in.Region {
		t.Errorf("the browser's order: got %+v, want one mug from %s", o, in.Region)
	}
}

// screenshot captures the page and checks that it drew something (a
// blank page is a single colour). With SHOP_SCREENSHOT_DIR set it saves
// the PNG there to look at.
func (d *devtools) screenshot(t *testing.T, session, name string) {
	t.Helper()
	var shot struct{ Data string }
	unmarshal(t, d.call(t, "Page.captureScreenshot", map[string]any{"format": "png"}, session), &shot)
	raw, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bounds := img.Bounds()
	colours := map[[4]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 4 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 4 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if bounds.Dx() < 100 || bounds.Dy() < 100 || len(colours) < 10 {
		t.Errorf("screenshot %s: %dx%d with %d colours; the page did not render", name, bounds.Dx(), bounds.Dy(), len(colours))
	}
	if dir := os.Getenv("SHOP_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Errorf("saving the screenshot: %v", err)
		}
	}
}

// devtools is a DevTools protocol connection to a Chromium over a pipe.
type devtools struct {
	w    *os.File
	r    *bufio.Reader
	next int
}

func startChromium(ctx context.Context, t *testing.T) *devtools {
	t.Helper()
	toChrome, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--window-size=1024,768", "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fds 3 and 4
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	toChrome.Close()
	fromChrome.Close()
	t.Cleanup(func() {
		ourW.Close() // chromium exits when its pipe closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		ourR.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	return &devtools{w: ourW, r: bufio.NewReader(ourR)}
}

// call sends one command (to a page session when session is not empty) and
// returns its result, skipping the events that arrive in between. A hung
// browser is killed by the context given to startChromium, which ends the
// read with an error.
func (d *devtools) call(t *testing.T, method string, params any, session string) json.RawMessage {
	t.Helper()
	d.next++
	msg := map[string]any{"id": d.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.w.Write(append(b, 0)); err != nil {
		t.Fatalf("devtools %s: %v", method, err)
	}
	for {
		frame, err := d.r.ReadBytes(0)
		if err != nil {
			t.Fatalf("devtools %s: reading the answer: %v", method, err)
		}
		var resp struct {
			ID     int
			Result json.RawMessage
			Error  *struct {
				Code    int
				Message string
			}
		}
		if err := json.Unmarshal(frame[:len(frame)-1], &resp); err != nil {
			t.Fatalf("devtools %s: %v in %q", method, err, frame)
		}
		if resp.ID != d.next {
			continue // an event
		}
		if resp.Error != nil {
			t.Fatalf("devtools %s: %d %s", method, resp.Error.Code, resp.Error.Message)
		}
		return resp.Result
	}
}

// evaluate runs a JavaScript expression in the page and returns its value,
// or an error when it threw (for example because the page was navigating).
func (d *devtools) evaluate(t *testing.T, session, expr string) (json.RawMessage, error) {
	t.Helper()
	res := d.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, session)
	var out struct {
		Result struct {
			Value json.RawMessage
		}
		ExceptionDetails *struct{ Text string }
	}
	unmarshal(t, res, &out)
	if out.ExceptionDetails != nil {
		return nil, fmt.Errorf("%s: %s", expr, out.ExceptionDetails.Text)
	}
	return out.Result.Value, nil
}

func (d *devtools) eval(t *testing.T, session, expr string) json.RawMessage {
	t.Helper()
	v, err := d.evaluate(t, session, expr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true.
func (d *devtools) waitFor(t *testing.T, session, what, cond string) {
	t.Helper()
	await(t, 30*time.Second, "browser: "+what, func() (bool, string) {
		v, err := d.evaluate(t, session, cond)
		if err != nil {
			return false, err.Error()
		}
		if string(v) == "true" {
			return true, ""
		}
		state, _ := d.evaluate(t, session, `location.href + " " + document.readyState + ": " + document.body.innerText.slice(0, 300)`)
		return false, strings.TrimSpace(string(state))
	})
}

func unmarshal(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
}
