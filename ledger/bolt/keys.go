package bolt

import (
	"encoding/binary"
	"time"
)

// Bucket and key names.
var (
	bucketMeta       = []byte("meta")
	bucketControl    = []byte("control")
	bucketActive     = []byte("active")
	bucketHistory    = []byte("history")
	bucketHistoryIDs = []byte("history_ids")
	bucketInjected   = []byte("injected")

	allBuckets = [][]byte{bucketMeta, bucketControl, bucketActive, bucketHistory, bucketHistoryIDs, bucketInjected}

	keyControl      = []byte("control")
	keySchema       = []byte("schema")
	keyHistoryCount = []byte("history_count")
)

// schemaVersion is written to meta on create and checked on open, so that
// a future layout change can migrate instead of misreading.
const schemaVersion = "1"

// timeLen is the length of an encoded time.
const timeLen = 12

// timeKey encodes t so that byte order is time order, for any t (negative
// Unix times included, which UnixNano could not represent).
func timeKey(t time.Time) []byte {
	b := make([]byte, timeLen)
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return b
}

// keyTime decodes the time at the start of a key.
func keyTime(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:]))).UTC()
}

// timeIDKey is a time key followed by a record ID.
func timeIDKey(t time.Time, id string) []byte {
	return append(timeKey(t), id...)
}

// keyID returns the record ID after the time in a key.
func keyID(k []byte) string { return string(k[timeLen:]) }

func putUint64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
