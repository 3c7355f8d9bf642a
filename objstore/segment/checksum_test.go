package segment

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// Combined checksums equal the checksum of the whole, for every split.
func TestCombineCRC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, cut := range []int{0, 1, 2, 3, 7, 8, 100, 2500, 4999, 5000} {
		a, b := data[:cut], data[cut:]
		got := combineCRC(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), len(b))
		if want := crc32.Checksum(data, castagnoli); got != want {
			t.Fatalf("cut at %d: combined %#x, whole %#x", cut, got, want)
		}
	}
}

// checksum of a large buffer, computed in parts, is the plain one.
func TestParallelChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, parallelChecksumMin+12345)
	for i := 0; i < len(data); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(data); j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	if got, want := checksum(data), crc32.Checksum(data, castagnoli); got != want {
		t.Fatalf("parallel %#x, plain %#x", got, want)
	}
}
