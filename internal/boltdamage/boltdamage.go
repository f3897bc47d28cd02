// Package boltdamage damages a bbolt store file (and the identity record
// kept beside it) in the ways disks, crashes and people do: cut short,
// bytes flipped in each kind of page, deleted, replaced. The store's own
// tests and the end-to-end tests run the same matrix of cases against
// the package and against the binary.
package boltdamage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// bbolt's file format (go.etcd.io/bbolt/internal/common), in the
// machine's byte order: a 16-byte page header (id u64, flags u16, count
// u16, overflow u32), then elements of 16 bytes: leaf (flags, pos, ksize,
// vsize u32), branch (pos, ksize u32, pgid u64), each pos counted from the
// element. Pages 0 and 1 hold a meta record (root at +16, high-water mark
// at +40, txid at +48).
const (
	header    = 16
	elemSize  = 16
	metaRoot  = 16
	metaHWM   = 40
	metaTxID  = 48
	flagsAt   = 8
	countAt   = 10
	elemPgid  = 8
	leafPosAt = 4
)

// Layout locates the pages the cases aim at.
type Layout struct {
	PageSize, HWM int
	// Newest and Older are the file offsets of the meta records with the
	// higher and the lower transaction id.
	Newest, Older int64
	// Branch is the root branch page of the first bucket; Leaf a leaf of
	// it from the middle; OtherLeaf a leaf of the second bucket.
	Branch, Leaf, OtherLeaf int
	// Freelist is the freelist page; Free a free page (0: none).
	Freelist, Free int
}

// ReadLayout reads the layout of the closed store file at path. bucket
// must be big enough for a branch page; other needs a page of its own.
func ReadLayout(path, bucket, other string) (Layout, error) {
	var l Layout
	raw, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		return l, err
	}
	defer db.Close()
	l.PageSize = db.Info().PageSize
	l.Newest, l.Older = header, int64(l.PageSize+header)
	if u64(raw, l.Older+metaTxID) > u64(raw, l.Newest+metaTxID) {
		l.Newest, l.Older = l.Older, l.Newest
	}
	l.HWM = int(u64(raw, l.Newest+metaHWM))
	page := func(id int) []byte { return raw[id*l.PageSize : (id+1)*l.PageSize] }
	leaves := func(root int) []int {
		var out []int
		for todo := []int{root}; len(todo) > 0; todo = todo[1:] {
			p := page(todo[0])
			if p[flagsAt] == 0x02 { // leaf
				out = append(out, todo[0])
				continue
			}
			for i := range int(binary.NativeEndian.Uint16(p[countAt:])) {
				todo = append(todo, int(u64(p, int64(header+i*elemSize+elemPgid))))
			}
		}
		return out
	}
	err = db.View(func(tx *bolt.Tx) error {
		b, o := tx.Bucket([]byte(bucket)), tx.Bucket([]byte(other))
		if b == nil || o == nil || b.Root() == 0 || o.Root() == 0 {
			return fmt.Errorf("buckets %q and %q need pages of their own", bucket, other)
		}
		l.Branch = int(b.Root())
		if page(l.Branch)[flagsAt] != 0x01 {
			return fmt.Errorf("bucket %q has no branch page", bucket)
		}
		ls := leaves(l.Branch)
		l.Leaf, l.OtherLeaf = ls[len(ls)/2], leaves(int(o.Root()))[0]
		for id := 2; id < l.HWM; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			switch info.Type {
			case "freelist":
				l.Freelist = id
			case "free":
				if l.Free == 0 {
					l.Free = id
				}
			}
			id += info.OverflowCount
		}
		return nil
	})
	return l, err
}

func u64(b []byte, off int64) uint64 { return binary.NativeEndian.Uint64(b[off:]) }

// elementKV returns the file offsets of the key and the value of the
// middle element of leaf page id.
func elementKV(l Layout, raw []byte, id int) (key, value int64) {
	p := int64(id * l.PageSize)
	i := int64(binary.NativeEndian.Uint16(raw[p+countAt:])) / 2
	e := p + header + i*elemSize
	pos, ks := int64(binary.NativeEndian.Uint32(raw[e+leafPosAt:])), int64(binary.NativeEndian.Uint32(raw[e+leafPosAt+4:]))
	vs := int64(binary.NativeEndian.Uint32(raw[e+leafPosAt+8:]))
	return e + pos + ks - 1, e + pos + ks + vs/2
}

// Case is one way of damage.
type Case struct {
	Name string
	// Want is "refuse" or "start" when only one outcome is right, ""
	// when either is (a refusal where a start was possible is safe).
	Want string
	// File turns the store file's bytes into the damaged ones; a nil
	// result deletes the file. nil leaves the file alone.
	File func(l Layout, b []byte) []byte
	// Record does the same to the identity record's bytes.
	Record func(b []byte) []byte
}

// Cases is the corruption matrix. other is another store's file, older
// an older copy of the store the cases damage.
func Cases(other, older string) []Case {
	cut := func(n func(int) int) func(Layout, []byte) []byte {
		return func(_ Layout, b []byte) []byte { return b[:n(len(b))] }
	}
	xor := func(off func(Layout, []byte) int64, mask byte) func(Layout, []byte) []byte {
		return func(l Layout, b []byte) []byte { b[off(l, b)] ^= mask; return b }
	}
	in := func(page func(Layout) int, at int64) func(Layout, []byte) int64 {
		return func(l Layout, _ []byte) int64 { return int64(page(l)*l.PageSize) + at }
	}
	branch := func(l Layout) int { return l.Branch }
	leaf := func(l Layout) int { return l.Leaf }
	zero := func(page func(Layout) int) func(Layout, []byte) []byte {
		return func(l Layout, b []byte) []byte { clear(b[page(l)*l.PageSize : (page(l)+1)*l.PageSize]); return b }
	}
	replace := func(src string) func(Layout, []byte) []byte {
		return func(Layout, []byte) []byte {
			b, err := os.ReadFile(src)
			if err != nil {
				panic(err)
			}
			return b
		}
	}
	return []Case{
		{Name: "truncate to 0", Want: "refuse", File: cut(func(int) int { return 0 })},
		{Name: "truncate to 4 KiB", Want: "refuse", File: cut(func(int) int { return 4096 })},
		{Name: "truncate to 1/4", Want: "refuse", File: cut(func(n int) int { return n / 4 })},
		{Name: "truncate to 1/2", Want: "refuse", File: cut(func(n int) int { return n / 2 })},
		{Name: "truncate the last page", Want: "refuse", File: cut(func(n int) int { return n - 4096 })},
		{Name: "delete the file", Want: "refuse", File: func(Layout, []byte) []byte { return nil }},
		{Name: "flip the newest meta page's txid", Want: "refuse", File: xor(func(l Layout, _ []byte) int64 { return l.Newest + metaTxID }, 0x01)},
		{Name: "flip the older meta page's root", Want: "start", File: xor(func(l Layout, _ []byte) int64 { return l.Older + metaRoot }, 0x04)},
		{Name: "flip both meta pages", Want: "refuse", File: func(l Layout, b []byte) []byte {
			b[l.Newest+metaHWM] ^= 0x01
			b[l.Older+metaHWM] ^= 0x01
			return b
		}},
		{Name: "flip the meta page 0 header", File: xor(in(func(Layout) int { return 0 }, flagsAt), 0x10)},
		{Name: "flip a branch page's flags", Want: "refuse", File: xor(in(branch, flagsAt), 0x03)},
		{Name: "flip a branch element's page id (low byte)", Want: "refuse", File: xor(in(branch, header+elemPgid), 0x01)},
		{Name: "flip a branch element's page id (high byte)", Want: "refuse", File: xor(in(branch, header+elemPgid+7), 0x40)},
		{Name: "flip a branch element's page id (far past the file)", Want: "refuse", File: xor(in(branch, header+elemPgid+4), 0x01)},
		{Name: "flip a branch key byte", Want: "refuse", File: xor(func(l Layout, b []byte) int64 {
			e := int64(l.Branch*l.PageSize + header + elemSize)
			return e + int64(binary.NativeEndian.Uint32(b[e:])) + int64(binary.NativeEndian.Uint32(b[e+4:])) - 1
		}, 0x01)},
		{Name: "zero a branch page", Want: "refuse", File: zero(branch)},
		{Name: "flip a leaf page's flags", Want: "refuse", File: xor(in(leaf, flagsAt), 0x03)},
		{Name: "flip a leaf page's count", Want: "refuse", File: xor(in(leaf, countAt), 0x01)},
		{Name: "flip a leaf element's position", Want: "refuse", File: xor(in(leaf, header+3*elemSize+leafPosAt), 0x01)},
		{Name: "flip a leaf key byte", Want: "refuse", File: xor(func(l Layout, b []byte) int64 { k, _ := elementKV(l, b, l.Leaf); return k }, 0x01)},
		{Name: "flip a leaf value byte", Want: "refuse", File: xor(func(l Layout, b []byte) int64 { _, v := elementKV(l, b, l.Leaf); return v }, 0x01)},
		{Name: "flip a leaf value byte of the second bucket", Want: "refuse", File: xor(func(l Layout, b []byte) int64 { _, v := elementKV(l, b, l.OtherLeaf); return v }, 0x20)},
		{Name: "zero a leaf page", Want: "refuse", File: zero(leaf)},
		{Name: "flip the freelist page", Want: "refuse", File: xor(in(func(l Layout) int { return l.Freelist }, header), 0x01)},
		{Name: "flip a free page", Want: "start", File: func(l Layout, b []byte) []byte {
			if l.Free != 0 {
				b[l.Free*l.PageSize+100] ^= 0xff
			}
			return b
		}},
		{Name: "replace with another store", Want: "refuse", File: replace(other)},
		{Name: "replace with an older copy", Want: "refuse", File: replace(older)},
		{Name: "replace with an empty bbolt file", Want: "refuse", File: func(Layout, []byte) []byte {
			f, err := os.CreateTemp("", "empty-*.db")
			if err != nil {
				panic(err)
			}
			f.Close()
			os.Remove(f.Name())
			defer os.Remove(f.Name())
			db, err := bolt.Open(f.Name(), 0o600, nil)
			if err != nil {
				panic(err)
			}
			db.Close()
			return replace(f.Name())(Layout{}, nil)
		}},
		{Name: "replace with text", Want: "refuse", File: func(Layout, []byte) []byte { return bytes.Repeat([]byte("not a store\n"), 2000) }},
		{Name: "remove the identity record", Want: "start", Record: func([]byte) []byte { return nil }},
		{Name: "garble the identity record", Want: "refuse", Record: func([]byte) []byte { return []byte(`{"storeId": 12`) }},
	}
}

// Write writes case c of the pristine store file, and of its identity
// record (at pristineRecord), to path and record.
func Write(c Case, l Layout, pristine, pristineRecord, path, record string) error {
	for _, f := range []struct {
		from, to string
		edit     func([]byte) []byte
	}{
		{pristine, path, func(b []byte) []byte {
			if c.File == nil {
				return b
			}
			return c.File(l, b)
		}},
		{pristineRecord, record, func(b []byte) []byte {
			if c.Record == nil {
				return b
			}
			return c.Record(b)
		}},
	} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return err
		}
		if b = f.edit(b); b == nil {
			if err := os.Remove(f.to); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			continue
		}
		if err := os.WriteFile(f.to, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
