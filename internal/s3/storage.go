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
	"strings"
	"sync"
	"syscall"
)

// files is the on-disk layout of object bytes under Config.Dir:
//
//	tmp/<id>.v               a file being written, or kept for reuse, whose
//	                         name reserves the internal id <id> for the
//	                         version its bytes may become; once that version
//	                         commits, the bytes of version <id>, durable,
//	                         not yet moved into objects/ (kept and moved at
//	                         start-up if the version committed, else deleted)
//	objects/<id>             one file per version, named by its internal id
//	uploads/<upload id>/     a multipart upload: upload.json, <n> (part bytes)
//	                         and <n>.json (part record)
//
// A version's bytes are written under their final tmp/ name from the start,
// so that committing the version's metadata is what makes them a version:
// no rename, and no directory fsync after the bytes' own, stands between
// the body and the commit. A new file's directory entry is made durable by
// a directory fsync that runs alongside the file's fdatasync (stage); a
// recycled file's entry was made durable before the file was offered for
// reuse (publish).
//
// Files are recycled, as log-structured stores recycle their log segments:
// creating a file and unlinking another cost the kernel far more than
// overwriting one (inode allocation, block allocation and freeing, and
// discards; on the bench machine's ext4 they were a third of a 64 KB PUT's
// CPU). The collector moves small files of dead versions to tmp/<new id>.v
// (at most maxFree of at most maxFreeSize bytes), fsyncs tmp/ once for the
// lot, and createTemp then overwrites one of those before it creates a
// file. A file with a reader (pin) is never recycled, since overwriting it
// would change the bytes under the reader.
//
// Data directories written by earlier versions may also hold tmp/body-*
// and tmp/free-* files (bodies and recyclable files); start-up deletes
// them like any temporary file.
//
// objects/ is flat: ext4 (and every filesystem Meridian runs on) indexes
// large directories, and a fan-out of subdirectories cost a mkdir (an inode
// allocation) whenever a version landed in a new one, which on a young data
// directory was most PUTs. Data directories written with the earlier
// objects/<id[:2]>/<id> layout are flattened once at start-up (flatten).
type files struct {
	dir     string
	tmpSync *dirSyncer // tmp/: names of new and recycled files
	objSync *dirSyncer // objects/: replicas placed by fetches

	mu      sync.Mutex
	pins    map[string]int // version id → readers with its file open
	free    []string       // recyclable files under tmp/, names durable
	renamed []string       // recyclable files whose names are not durable yet
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

func (f *files) object(id string) string { return filepath.Join(f.objectsDir(), id) }

func newFiles(dir string) files {
	return files{dir: dir, tmpSync: newDirSyncer(filepath.Join(dir, "tmp")), objSync: newDirSyncer(filepath.Join(dir, "objects"))}
}

func (f *files) init() error {
	for _, d := range []string{f.tmpDir(), f.objectsDir(), f.uploadsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating object directory %q: %w", d, err)
		}
	}
	return f.flatten()
}

// layoutFile marks a data directory whose objects/ is flat.
const layoutFile = "layout"

// flatten moves the files of the earlier layout, objects/<id[:2]>/<id>,
// to objects/<id>, once per data directory. A crash part-way leaves files
// in both places; the next start finishes (the marker is written last).
func (f *files) flatten() error {
	marker := filepath.Join(f.dir, layoutFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	ents, err := os.ReadDir(f.objectsDir())
	if err != nil {
		return fmt.Errorf("reading %q: %w", f.objectsDir(), err)
	}
	moved := false
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		sub := filepath.Join(f.objectsDir(), ent.Name())
		files, err := os.ReadDir(sub)
		if err != nil {
			return fmt.Errorf("reading %q: %w", sub, err)
		}
		for _, fe := range files {
			if err := rename(filepath.Join(sub, fe.Name()), f.object(fe.Name())); err != nil {
				return fmt.Errorf("flattening objects/: %w", err)
			}
			moved = true
		}
	}
	if moved {
		if err := syncDir(f.objectsDir()); err != nil {
			return err
		}
	}
	for _, ent := range ents {
		if ent.IsDir() {
			if err := os.Remove(filepath.Join(f.objectsDir(), ent.Name())); err != nil {
				return fmt.Errorf("flattening objects/: %w", err)
			}
		}
	}
	// The marker need not be durable: without it the next start reads
	// objects/ once more and finds nothing to move.
	if err := os.WriteFile(marker, []byte("objects: flat\n"), 0o600); err != nil {
		return fmt.Errorf("writing %q: %w", marker, err)
	}
	return nil
}

// rename is os.Rename without its Lstat of newpath (which only refuses a
// directory there, and none of ours is one): one system call per rename
// less on the write path.
func rename(oldpath, newpath string) error {
	if err := syscall.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// temp is a file being written under tmp/, named tmp/<id>.v: id is
// reserved for the version its bytes may become.
type temp struct {
	*os.File
	id string
	// named says the file's directory entry is durable (a recycled file);
	// a new file's is not until tmp/ is fsynced.
	named bool
}

// staged is the path of version id's bytes before they move to objects/.
func (f *files) staged(id string) string { return filepath.Join(f.tmpDir(), id+stagedSuffix) }

// stage makes a received body durable under its name, tmp/<id>.v, before
// its version's metadata commits: the file's fdatasync and, for a new file,
// a directory fsync of tmp/ run at once, not one after the other (each is a
// journal commit the PUT waits for). On error the file is removed.
func (f *files) stage(t *temp) error {
	var dir chan error
	if !t.named {
		// Owned by stage, which waits for it; dirSyncer.sync returns.
		dir = make(chan error, 1)
		go func() { dir <- f.tmpSync.sync() }()
	}
	err := seal(t.File)
	if dir != nil {
		if derr := <-dir; err == nil {
			err = derr
		}
	}
	if err != nil {
		discard(t.File)
		return err
	}
	if err := t.Close(); err != nil {
		_ = os.Remove(t.Name())
		return fmt.Errorf("closing %q: %w", t.Name(), err)
	}
	return nil
}

// promote moves committed bytes from their staged name to their final one.
// The rename need not be durable: after a crash, recovery redoes it.
func (f *files) promote(id string) error {
	return rename(f.staged(id), f.object(id))
}

const stagedSuffix = ".v"

func (f *files) exists(id string) bool {
	_, err := os.Stat(f.object(id))
	return err == nil
}

// createTemp opens a temporary file to write from its start, under a newly
// reserved id: a recycled one if there is one, else a new one. Its writer
// ends with seal (stage, place), which cuts what a recycled file held
// beyond what was written.
func (f *files) createTemp() (*temp, error) {
	f.mu.Lock()
	var p string
	if n := len(f.free); n > 0 {
		p, f.free = f.free[n-1], f.free[:n-1]
	}
	f.mu.Unlock()
	if p != "" {
		if t, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			return &temp{File: t, id: strings.TrimSuffix(filepath.Base(p), stagedSuffix), named: true}, nil
		}
		_ = os.Remove(p)
	}
	id := newID(versionIDLen)
	t, err := os.OpenFile(f.staged(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &temp{File: t, id: id}, nil
}

// versionIDLen is the length of internal version ids.
const versionIDLen = 24

// seal cuts tmp at its write offset (a recycled file may hold more) and
// makes its bytes durable.
func seal(tmp *os.File) error {
	off, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		var fi os.FileInfo
		if fi, err = tmp.Stat(); err == nil && fi.Size() > off {
			err = tmp.Truncate(off)
		}
	}
	if err == nil {
		err = fdatasync(tmp)
	}
	if err != nil {
		return fmt.Errorf("syncing %q: %w", tmp.Name(), err)
	}
	return nil
}

// fdatasync flushes f's bytes and the metadata needed to read them back
// (its size), not its timestamps: a recycled file overwritten with a body of
// its old size then costs one disk write, not two (data and inode), which
// on the bench machine was a visible share of every PUT's CPU (the block
// layer and interrupts of the second I/O).
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
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
// small, no reader has it open and fewer than maxFree are kept: it moves to
// tmp/<new id>.v, offered for reuse once publish has made that name durable.
func (f *files) remove(id string) error {
	path := f.object(id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pins[id] == 0 && len(f.free)+len(f.renamed) < maxFree {
		if fi, err := os.Stat(path); err == nil && fi.Size() <= maxFreeSize {
			free := f.staged(newID(versionIDLen))
			if err := rename(path, free); err == nil {
				f.renamed = append(f.renamed, free)
				return nil
			}
		}
	}
	return removeIfExists(path)
}

// publish offers the files remove kept for reuse once their names are
// durable (one fsync of tmp/ for all): stage commits a version in a
// recycled file without syncing tmp/ again, so the file must not turn
// up under its old name after a crash. On error the files are deleted.
func (f *files) publish() error {
	f.mu.Lock()
	renamed := f.renamed
	f.renamed = nil
	f.mu.Unlock()
	if len(renamed) == 0 {
		return nil
	}
	if err := f.tmpSync.sync(); err != nil {
		for _, p := range renamed {
			_ = os.Remove(p)
		}
		return err
	}
	f.mu.Lock()
	f.free = append(f.free, renamed...)
	f.mu.Unlock()
	return nil
}

// place fsyncs and closes tmp and renames it to path, in an existing
// directory, then has syncDir fsync that directory, so the file is whole
// and durable under its final name.
func place(tmp *os.File, path string, syncDir func() error) error {
	if err := seal(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %q: %w", tmp.Name(), err)
	}
	if err := rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("placing %q: %w", path, err)
	}
	return syncDir()
}

// syncer returns a func fsyncing dir, for place.
func syncer(dir string) func() error { return func() error { return syncDir(dir) } }

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
		discard(tmp.File)
		return err
	}
	return place(tmp.File, path, syncer(filepath.Dir(path)))
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
// request cost more CPU than hashing a 64 KB body. It fills the buffer
// before each write, so a small body is one write(2) to its file, not one
// per network read.
func (e *Engine) copyStream(dst io.Writer, src io.Reader) (int64, error) {
	buf, _ := e.buffers.Get().(*[copyBuffer]byte)
	if buf == nil {
		buf = new([copyBuffer]byte)
	}
	defer e.buffers.Put(buf)
	var n int64
	for {
		m := 0
		var rerr error
		for m < len(buf) && rerr == nil {
			var k int
			k, rerr = src.Read(buf[m:])
			m += k
		}
		if m > 0 {
			w, err := dst.Write(buf[:m])
			n += int64(w)
			if err != nil {
				return n, err
			}
		}
		if rerr == io.EOF { //nolint:errorlint // Read returns io.EOF itself, never wrapped
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// dirSyncer shares directory fsyncs between concurrent callers, as the store
// shares commits: a caller waits for one fsync that started after it asked.
type dirSyncer struct {
	dir   string
	fsync func(dir string) error // syncDir; tests count the calls

	mu      sync.Mutex
	cond    *sync.Cond
	asked   uint64 // requests so far
	synced  uint64 // every request up to this one is covered
	running bool
	failed  uint64 // requests up to this one were covered by a failed fsync
	err     error
}

func newDirSyncer(dir string) *dirSyncer {
	d := &dirSyncer{dir: dir, fsync: syncDir}
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
		err := d.fsync(d.dir)
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
