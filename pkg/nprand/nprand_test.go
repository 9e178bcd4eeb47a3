package nprand

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gomezo/gomezo/internal/testenv"
)

// fixture mirrors ../shared/fixtures/rng/numpy_randomstate.json.
type fixture struct {
	NumpyVersion string `json:"numpy_version"`
	Cases        []struct {
		Seed         uint32  `json:"seed"`
		Randint1e9   []int64 `json:"randint_1e9"`
		Shuffle10    []int   `json:"shuffle_range10"`
		PermutationN *int    `json:"permutation_n"`
		First20      []int   `json:"first20"`
		SHA256       string  `json:"sha256_of_json_list"`
	} `json:"cases"`
}

func loadFixture(t *testing.T) fixture {
	t.Helper()
	b, err := os.ReadFile(testenv.SharedPath(t, "fixtures", "rng", "numpy_randomstate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("fixture has no cases")
	}
	return f
}

// pyJSONList renders ints as Python's json.dumps(list) does with default
// separators.
func pyJSONList(p []int) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, v := range p {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, v)
	}
	sb.WriteByte(']')
	return sb.String()
}

func TestFixture(t *testing.T) {
	f := loadFixture(t)
	var nRandint, nShuffle, nPerm int
	for ci, c := range f.Cases {
		switch {
		case c.Randint1e9 != nil:
			nRandint++
			r := New(c.Seed)
			for i, want := range c.Randint1e9 {
				if got := r.Randint(1000000000); got != want {
					t.Fatalf("case %d seed %d: randint #%d = %d, want %d", ci, c.Seed, i, got, want)
				}
			}
		case c.Shuffle10 != nil:
			nShuffle++
			var r RandomState
			r.Seed(c.Seed)
			s := make([]int, 10)
			for i := range s {
				s[i] = i
			}
			r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			if fmt.Sprint(s) != fmt.Sprint(c.Shuffle10) {
				t.Fatalf("case %d seed %d: shuffle = %v, want %v", ci, c.Seed, s, c.Shuffle10)
			}
		case c.PermutationN != nil:
			nPerm++
			p := New(c.Seed).Permutation(*c.PermutationN)
			if len(p) != *c.PermutationN {
				t.Fatalf("case %d: len %d", ci, len(p))
			}
			k := min(len(c.First20), len(p))
			if fmt.Sprint(p[:k]) != fmt.Sprint(c.First20) {
				t.Fatalf("case %d seed %d n %d: first = %v, want %v", ci, c.Seed, len(p), p[:k], c.First20)
			}
			sum := sha256.Sum256([]byte(pyJSONList(p)))
			if got := hex.EncodeToString(sum[:]); got != c.SHA256 {
				t.Fatalf("case %d seed %d n %d: sha256 %s, want %s", ci, c.Seed, len(p), got, c.SHA256)
			}
		default:
			t.Fatalf("case %d: unknown kind", ci)
		}
	}
	t.Logf("numpy %s: %d randint, %d shuffle, %d permutation cases match", f.NumpyVersion, nRandint, nShuffle, nPerm)
	if nRandint == 0 || nShuffle == 0 || nPerm == 0 {
		t.Fatal("fixture lacks a case kind")
	}
}

// TestOtherPaths checks code paths the fixture does not cover against values
// recorded from numpy 1.24.2 (np.random.RandomState(7) and (2**31)).
func TestOtherPaths(t *testing.T) {
	r := New(7)
	for i, want := range []float64{0.07630828937395717, 0.7799187922401146, 0.4384092314408935} {
		if got := r.Random(); got != want {
			t.Errorf("random_sample #%d = %v, want %v", i, got, want)
		}
	}
	for i, want := range []float64{1.617325889154706, 2.889947559983013} {
		if got := r.Uniform(-2, 3); got != want {
			t.Errorf("uniform #%d = %v, want %v", i, got, want)
		}
	}
	r.Seed(7)
	check := func(high int64, want ...int64) {
		t.Helper()
		for i, w := range want {
			if got := r.Randint(high); got != w {
				t.Errorf("randint(%d) #%d = %d, want %d", high, i, got, w)
			}
		}
	}
	check(1<<32, 327741615, 976413892, 3349725721)
	check(1<<40, 1058444908099, 909345358743, 446582064476)
	check(1, 0, 0)
	check(1<<63-1, 5681832686530518414, 4867557868310195784)
	check(5, 1, 2, 2, 0, 4)

	r.Seed(7)
	r.Randint(10)
	if got := fmt.Sprint(r.Permutation(5), r.Permutation(1), r.Permutation(0)); got != "[3 4 0 2 1] [0] []" {
		t.Errorf("permutations = %s", got)
	}
	s := []int{0, 1, 2, 3, 4, 5, 6}
	r.ShuffleInts(s)
	if fmt.Sprint(s) != "[4 5 3 2 1 0 6]" {
		t.Errorf("shuffle = %v", s)
	}
	check(1000000000, 68334472)

	r.Seed(1 << 31)
	for range 1000 {
		r.Randint(1000000000)
	}
	check(1000000000, 718513863)
}

func TestInvalidHigh(t *testing.T) {
	a, b := New(3), New(3)
	if got := a.Randint(0); got != 0 {
		t.Fatalf("Randint(0) = %d", got)
	}
	if a.Randint(-5) != 0 || a.Randint(100) != b.Randint(100) {
		t.Fatal("Randint(<=0) consumed state")
	}
}

func TestMarshal(t *testing.T) {
	r := New(42)
	for range 700 { // cross a refill
		r.Uint32()
	}
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q RandomState
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if x, y := r.Uint32(), q.Uint32(); x != y {
			t.Fatalf("draw %d differs after restore", i)
		}
	}
	if err := q.UnmarshalBinary(b[:10]); err == nil {
		t.Fatal("short state accepted")
	}
	b[len(b)-1] = 0xff
	if err := q.UnmarshalBinary(b); err == nil {
		t.Fatal("bad position accepted")
	}
}

func BenchmarkRandint(b *testing.B) {
	r := New(42)
	for i := 0; i < b.N; i++ {
		r.Randint(1000000000)
	}
}

func BenchmarkPermutation1000(b *testing.B) {
	r := New(42)
	for i := 0; i < b.N; i++ {
		r.Permutation(1000)
	}
}

func ExampleRandomState_Randint() {
	r := New(13) // np.random.seed(13)
	fmt.Println(r.Randint(1000000000), r.Randint(1000000000))
	// Output: 118980946 461027504
}

func ExampleRandomState_Permutation() {
	fmt.Println(New(42).Permutation(10)) // np.random.RandomState(42).permutation(10)
	// Output: [8 1 5 0 7 2 9 4 3 6]
}

func TestStateRoundTrip(t *testing.T) {
	a := New(42)
	a.Permutation(31)
	st := a.State()
	want := []int64{a.Randint(1000000000), a.Randint(7)}
	b := New(1)
	if err := b.SetState(st); err != nil {
		t.Fatal(err)
	}
	if got := []int64{b.Randint(1000000000), b.Randint(7)}; got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("restored stream %v, original %v", got, want)
	}
	if err := b.SetState(State{Key: []uint32{1}}); err == nil {
		t.Error("a one-word state was accepted")
	}
}
