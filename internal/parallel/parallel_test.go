package parallel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMapKeepsInputOrder(t *testing.T) {
	for _, n := range []int{0, 1, 2, 1000} {
		got := Map(n, func(i int) int {
			if i%7 == 0 {
				time.Sleep(time.Millisecond) // finish out of order
			}
			return i * i
		})
		want := make([]int, n)
		for i := range want {
			want[i] = i * i
		}
		assert.Equal(t, want, got, "n=%d", n)
	}
}
