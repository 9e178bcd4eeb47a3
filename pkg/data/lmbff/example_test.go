package lmbff_test

import (
	"fmt"

	"github.com/gomezo/gomezo/pkg/data/lmbff"
)

func ExampleParseTemplate() {
	t, err := lmbff.ParseTemplate("*cls**sent-_0*?*mask*,*+sentl_1**sep+*")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range t.Parts {
		if p.Kind == lmbff.PartSent {
			fmt.Printf("sentence %d: space=%v lower=%v dropLast=%v\n", p.Index, p.Space, p.Lower, p.DropLast)
		}
	}
	fmt.Println(lmbff.AutoDemoTemplate("*cls**sent_0*_It_was*mask*.*sep+*", 2))
	_, err = lmbff.ParseTemplate("*cls**sent_x**mask*")
	fmt.Println(err)
	// Output:
	// sentence 0: space=false lower=false dropLast=true
	// sentence 1: space=true lower=true dropLast=false
	// *cls**sent_0*_It_was*mask*.*sep+**sent_1*_It_was*label_0*.*sep+**sent_2*_It_was*label_1*.*sep+*
	// lmbff: template "*cls**sent_x**mask*": part 3 "sent_x": bad index "x" (want decimal digits)
}

func ExampleParseMapping() {
	m, err := lmbff.ParseMapping("{0:'terrible',1:'great'}")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range m.Keys {
		fmt.Println(k, m.Words[k])
	}
	// Output:
	// 0 terrible
	// 1 great
}

func ExampleCollate() {
	b, _ := lmbff.Collate([]lmbff.Feature{
		{InputIDs: []int{0, 713, 50264, 2}, AttentionMask: []int{1, 1, 1, 1}, MaskPos: 2, LabelID: 1},
		{InputIDs: []int{0, 50264, 2}, AttentionMask: []int{1, 1, 1}, MaskPos: 1, LabelID: 0},
	}, 1)
	fmt.Println(b.Size, b.Len, b.Row(1), b.AttentionMask[4:], b.MaskPos, b.Labels)
	// Output:
	// 2 4 [0 50264 2 1] [1 1 1 0] [2 1] [1 0]
}
