package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Records are stored in a compact binary form: a format byte, then fields
// in a fixed order, strings and lists length-prefixed with uvarints, times
// as Unix nanoseconds, then (since format 3, schema version 3) a CRC-32C of
// all that. It decodes without reflection, which is most of the cost of a
// read (JSON took more time than bbolt itself). Adding a field means a new
// format byte and a migration.
//
// bbolt checksums only its meta pages: a flipped bit in a data page that
// keeps the page's structure intact would otherwise be served as data. The
// checksum turns it into ErrDamaged when the record is read, and the check
// at Open reads every record.

const (
	recordFormat = 3
	// recordFormatV2 is format 3 without the checksum; only migration 3
	// reads it.
	recordFormatV2 = 2
)

var errCorrupt = fmt.Errorf("%w: a record does not decode", ErrDamaged)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal appends b's checksum to b.
func seal(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unseal returns b without its checksum, or errCorrupt when they disagree.
func unseal(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errCorrupt
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errCorrupt
	}
	return body, nil
}

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}
func (e *encoder) flags(bs ...bool) {
	var f byte
	for i, b := range bs {
		if b {
			f |= 1 << i
		}
	}
	e.b = append(e.b, f)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) flags() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	f := d.b[0]
	d.b = d.b[1:]
	return f
}

func (d *decoder) format(want byte) {
	if f := d.flags(); d.err == nil && f != want {
		d.err = errCorrupt
	}
}

// sealed returns the body of a current record, checksum verified.
func sealed(b []byte) (decoder, byte) {
	body, err := unseal(b)
	return decoder{b: body, err: err}, recordFormat
}

func encodeResource(r Resource) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 192)}
	e.b = append(e.b, recordFormat)
	e.str(r.AppID)
	e.str(r.Env)
	e.str(r.Name)
	e.str(r.Bucket)
	e.flags(r.Imported, r.CreatedBucket, r.Applied != nil)
	e.strs(r.Desired.Authenticated)
	e.strs(r.Desired.Unauthenticated)
	if r.Applied != nil {
		e.strs(r.Applied.Authenticated)
		e.strs(r.Applied.Unauthenticated)
	}
	e.str(string(r.Phase))
	e.str(r.ActiveJob)
	e.strs(r.Warnings)
	e.time(r.CreateTime)
	e.time(r.UpdateTime)
	return seal(e.b), nil
}

func decodeResource(b []byte) (Resource, error) { return decodeResourceAs(sealed(b)) }

// decodeResourceV2 reads a record of format 2 (no checksum).
func decodeResourceV2(b []byte) (Resource, error) {
	return decodeResourceAs(decoder{b: b}, recordFormatV2)
}

func decodeResourceAs(d decoder, format byte) (Resource, error) {
	d.format(format)
	var r Resource
	r.AppID, r.Env, r.Name, r.Bucket = d.str(), d.str(), d.str(), d.str()
	f := d.flags()
	r.Imported, r.CreatedBucket = f&1 != 0, f&2 != 0
	r.Desired.Authenticated, r.Desired.Unauthenticated = d.strs(), d.strs()
	if f&4 != 0 {
		r.Applied = &Permissions{Authenticated: d.strs(), Unauthenticated: d.strs()}
	}
	r.Phase = Phase(d.str())
	r.ActiveJob = d.str()
	r.Warnings = d.strs()
	r.CreateTime, r.UpdateTime = d.time(), d.time()
	if d.err != nil {
		return Resource{}, d.err
	}
	return r, nil
}

func encodeJob(j Job) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 160)}
	e.b = append(e.b, recordFormat)
	e.str(j.ID)
	e.str(j.AppID)
	e.str(j.Env)
	e.str(j.Resource)
	e.str(string(j.Operation))
	e.str(string(j.Status))
	e.str(j.Error)
	e.flags(j.Undo, j.BucketRequested)
	e.strs(j.Warnings)
	e.time(j.CreateTime)
	e.time(j.UpdateTime)
	e.uvarint(j.seq)
	return seal(e.b), nil
}

func decodeJob(b []byte) (Job, error) { return decodeJobAs(sealed(b)) }

// decodeJobV2 reads a record of format 2 (no checksum).
func decodeJobV2(b []byte) (Job, error) { return decodeJobAs(decoder{b: b}, recordFormatV2) }

func decodeJobAs(d decoder, format byte) (Job, error) {
	d.format(format)
	var j Job
	j.ID, j.AppID, j.Env, j.Resource = d.str(), d.str(), d.str(), d.str()
	j.Operation, j.Status, j.Error = Operation(d.str()), Status(d.str()), d.str()
	f := d.flags()
	j.Undo, j.BucketRequested = f&1 != 0, f&2 != 0
	j.Warnings = d.strs()
	j.CreateTime, j.UpdateTime = d.time(), d.time()
	j.seq = d.uvarint()
	if d.err != nil {
		return Job{}, d.err
	}
	return j, nil
}
