package segment

import (
	"hash/crc32"
	"runtime"
	"sync"
)

// parallelChecksumMin is the section size from which its checksum is
// computed in parts on several cores and the parts combined: a 600 MB
// graph section takes a quarter of a second on one core, most of a
// restart.
const parallelChecksumMin = 32 << 20

// checksum returns the CRC-32C of b, in parts on up to GOMAXPROCS
// goroutines when b is large.
func checksum(b []byte) uint32 {
	parts := min(runtime.GOMAXPROCS(0), 8)
	if len(b) < parallelChecksumMin || parts < 2 {
		return crc32.Checksum(b, castagnoli)
	}
	size := (len(b) + parts - 1) / parts
	sums := make([]uint32, parts)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := min(i*size, len(b)), min((i+1)*size, len(b))
		wg.Go(func() { sums[i] = crc32.Checksum(b[lo:hi], castagnoli) })
	}
	wg.Wait()
	sum := sums[0]
	for i := 1; i < parts; i++ {
		lo, hi := min(i*size, len(b)), min((i+1)*size, len(b))
		sum = combineCRC(sum, sums[i], hi-lo)
	}
	return sum
}

// combineCRC returns the CRC-32C of a‖b given crc(a), crc(b) and len(b):
// crc(a) is carried through len(b) zero bytes by repeated squaring of the
// operator that appends one zero bit, in GF(2), then crc(b) is added.
func combineCRC(crcA, crcB uint32, lenB int) uint32 {
	if lenB == 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = crc32.Castagnoli // reflected polynomial: one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four
	n := uint64(lenB)
	for {
		gf2Square(&even, &odd) // one zero byte, then 4, 16, …
		if n&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		n >>= 1
		if n == 0 {
			break
		}
		gf2Square(&odd, &even)
		if n&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		n >>= 1
		if n == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
