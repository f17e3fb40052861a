package main

import (
	"fmt"
	"os"

	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/onnxio"
)

func main() {
	for _, p := range os.Args[1:] {
		m, err := onnxio.Read(p)
		if err != nil {
			panic(err)
		}
		fmt.Println(p, m.Opsets, m.IRVersion, len(m.Graph.Nodes))
		if err := ir.FixBatch(m, 8); err != nil {
			panic(err)
		}
		cnt := map[string]int{}
		for _, n := range m.Graph.Nodes {
			cnt[n.OpType]++
		}
		fmt.Println(cnt)
		for i, n := range m.Graph.Nodes {
			if i < 12 || n.OpType != "Conv" && n.OpType != "BatchNormalization" && n.OpType != "Relu" {
				fmt.Println(n.Name, n.OpType, n.Inputs, n.Outputs, n.Attrs)
			}
		}
		for _, v := range m.Graph.Inputs {
			fmt.Println("in", v.Name, v.Shape)
		}
		for _, v := range m.Graph.Outputs {
			fmt.Println("out", v.Name, v.Shape)
		}
	}
}
