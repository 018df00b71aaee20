package s3

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// files is the on-disk layout of object bytes under Config.Dir:
//
//	tmp/body-<random>        bodies being received (deleted at start-up)
//	tmp/free-<id>            files of dead versions kept for reuse (deleted
//	                         at start-up)
//	tmp/<id>.v               a version's bytes, durable, whose metadata may not
//	                         have committed yet (kept or deleted at start-up)
//	objects/<id[:2]>/<id>    one file per version, named by its internal id
//	uploads/<upload id>/     a multipart upload: upload.json, <n> (part bytes)
//	                         and <n>.json (part record)
//
// Files are recycled, as log-structured stores recycle their log segments:
// creating a file and unlinking another cost the kernel far more than
// overwriting one (inode allocation, block allocation and freeing, and
// discards; on the bench machine's ext4 they were a third of a 64 KB PUT's
// CPU). The collector moves small files of dead versions to tmp/free-* (at
// most maxFree of at most maxFreeSize bytes) and createTemp overwrites one
// of those before it creates a file. A file with a reader (pin) is never
// recycled, since overwriting it would change the bytes under the reader.
type files struct {
	dir     string
	tmpSync *dirSyncer

	mu   sync.Mutex
	pins map[string]int // version id → readers with its file open
	free []string       // recyclable files under tmp/
}

// Recycling limits.
const (
	maxFree     = 64
	maxFreeSize = 1 << 20
)

func (f *files) tmpDir() string          { return filepath.Join(f.dir, "tmp") }
func (f *files) objectsDir() string      { return filepath.Join(f.dir, "objects") }
func (f *files) uploadsDir() string      { return filepath.Join(f.dir, "uploads") }
func (f *files) upload(id string) string { return filepath.Join(f.uploadsDir(), id) }

func (f *files) object(id string) string {
	p := id
	if len(p) > 2 {
		p = id[:2]
	}
	return filepath.Join(f.objectsDir(), p, id)
}

func (f *files) init() error {
	for _, d := range []string{f.tmpDir(), f.objectsDir(), f.uploadsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating object directory %q: %w", d, err)
		}
	}
	return nil
}

// stage makes a received body durable as tmp/<id>.v, before its metadata
// commits.
func (f *files) stage(tmp *os.File, id string) (string, error) {
	staged := filepath.Join(f.tmpDir(), id+stagedSuffix)
	if err := seal(tmp); err != nil {
		discard(tmp)
		return "", err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("closing %q: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), staged); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("staging %q: %w", staged, err)
	}
	if err := f.tmpSync.sync(); err != nil {
		_ = os.Remove(staged)
		return "", err
	}
	return staged, nil
}

// promote moves committed bytes from their staged name to their final one.
// The rename need not be durable: after a crash, recovery redoes it.
func (f *files) promote(staged, id string) error {
	path := f.object(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.Rename(staged, path)
}

const stagedSuffix = ".v"

func (f *files) exists(id string) bool {
	_, err := os.Stat(f.object(id))
	return err == nil
}

// createTemp opens a temporary file to write from its start: a recycled
// one if there is one, else a new one. Its writer ends with seal (stage,
// place), which cuts what a recycled file held beyond what was written.
func (f *files) createTemp() (*os.File, error) {
	f.mu.Lock()
	var p string
	if n := len(f.free); n > 0 {
		p, f.free = f.free[n-1], f.free[:n-1]
	}
	f.mu.Unlock()
	if p != "" {
		if t, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			return t, nil
		}
		_ = os.Remove(p)
	}
	return os.CreateTemp(f.tmpDir(), "body-*")
}

// seal cuts tmp at its write offset (a recycled file may hold more) and
// fsyncs it.
func seal(tmp *os.File) error {
	off, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		var fi os.FileInfo
		if fi, err = tmp.Stat(); err == nil && fi.Size() > off {
			err = tmp.Truncate(off)
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err != nil {
		return fmt.Errorf("syncing %q: %w", tmp.Name(), err)
	}
	return nil
}

// pin registers a reader of a version's file; call it before opening the
// file and the returned func once the file is closed.
func (f *files) pin(id string) (unpin func()) {
	f.mu.Lock()
	if f.pins == nil {
		f.pins = map[string]int{}
	}
	f.pins[id]++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			if f.pins[id]--; f.pins[id] <= 0 {
				delete(f.pins, id)
			}
			f.mu.Unlock()
		})
	}
}

// remove removes a dead version's file, keeping it for reuse when it is
// small, no reader has it open and fewer than maxFree are kept.
func (f *files) remove(id string) error {
	path := f.object(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pins[id] == 0 && len(f.free) < maxFree {
		if fi, err := os.Stat(path); err == nil && fi.Size() <= maxFreeSize {
			free := filepath.Join(f.tmpDir(), "free-"+id)
			if err := os.Rename(path, free); err == nil {
				f.free = append(f.free, free)
				return nil
			}
		}
	}
	return removeIfExists(path)
}

// place fsyncs and closes tmp and renames it to path, fsyncing the
// directory, so the file is whole and durable under its final name.
func place(tmp *os.File, path string) error {
	if err := seal(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %q: %w", tmp.Name(), err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %q: %w", dir, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("placing %q: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %q: %w", dir, err)
	}
	return nil
}

// discard removes a temporary file that will not be placed.
func discard(tmp *os.File) {
	_ = tmp.Close()
	_ = os.Remove(tmp.Name())
}

// writeJSONFile writes v to path atomically (temp file, fsync, rename).
func (f *files) writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := f.createTemp()
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		discard(tmp)
		return err
	}
	return place(tmp, path)
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// newID returns a random identifier of n bytes in a URL- and file-safe
// alphabet.
func newID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// copyBuffer is the buffer size of every streaming copy.
const copyBuffer = 256 << 10

// copyStream copies with a recycled buffer: allocating (and zeroing) one per
// request cost more CPU than hashing a 64 KB body.
func (e *Engine) copyStream(dst io.Writer, src io.Reader) (int64, error) {
	buf, _ := e.buffers.Get().(*[copyBuffer]byte)
	if buf == nil {
		buf = new([copyBuffer]byte)
	}
	defer e.buffers.Put(buf)
	return io.CopyBuffer(dst, src, buf[:])
}

// dirSyncer shares directory fsyncs between concurrent callers, as the store
// shares commits: a caller waits for one fsync that started after it asked.
type dirSyncer struct {
	dir string

	mu      sync.Mutex
	cond    *sync.Cond
	asked   uint64 // requests so far
	synced  uint64 // every request up to this one is covered
	running bool
	failed  uint64 // requests up to this one were covered by a failed fsync
	err     error
}

func newDirSyncer(dir string) *dirSyncer {
	d := &dirSyncer{dir: dir}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// sync returns once an fsync of the directory that began after the call
// has completed.
func (d *dirSyncer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	want := d.asked
	for d.synced < want {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		through := d.asked
		d.mu.Unlock()
		err := syncDir(d.dir)
		d.mu.Lock()
		d.running = false
		d.synced = through
		if err != nil {
			d.failed, d.err = through, err
		}
		d.cond.Broadcast()
	}
	if d.err != nil && d.failed >= want {
		return d.err
	}
	return nil
}
