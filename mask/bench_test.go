package mask_test

import (
	"testing"
)

// BenchmarkApply measures Apply per strategy on a representative input.
// Compare the keyed strategies (one HMAC-SHA256 each) with null, the
// baseline: go test -run XXX -bench BenchmarkApply ./mask/
func BenchmarkApply(b *testing.B) {
	for _, n := range concreteNames() {
		s := mustParse(b, n)
		in := sampleInput(n)
		b.Run(n, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Apply(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyParallel measures the keyed strategies under concurrent
// use, which shares their pool of HMAC states.
func BenchmarkApplyParallel(b *testing.B) {
	for _, n := range []string{"hmac", "fake.email"} {
		s := mustParse(b, n)
		b.Run(n, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Apply("jane.doe@example.org"); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
