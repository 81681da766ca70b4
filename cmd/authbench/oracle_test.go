package main

import (
	"strings"
	"testing"
)

func TestSummarizeOracle_MediansGapAndPercent(t *testing.T) {
	p := summarizeOracle("k", durs(10, 12, 11, 30), durs(10, 10, 9, 40), 3)
	if p.KnownP50 != 11 || p.UnknownP50 != 10 || p.GapMs != 1 || p.GapPct != 10 || p.Pairs != 4 || p.KnownSlower != 3 {
		t.Fatalf("%+v", p)
	}
	q := summarizeOracle("k", durs(9), durs(10), 0)
	if q.GapMs != -1 || q.GapPct != 11.1 {
		t.Fatalf("negative gap: %+v", q)
	}
	if tbl := oracleTable([]OraclePair{p, q}); !strings.Contains(tbl, "| k | 4 | 11.00 ms | 10.00 ms | +1.000 ms | 10.0 % | 3/4 |") {
		t.Fatalf("table:\n%s", tbl)
	}
}
