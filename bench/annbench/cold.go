package annbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"connectrpc.com/connect"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
	"github.com/weftdb/weft/proto/gen/weft/v1/weftv1connect"
)

// RunCold implements `weft bench cold`: for each of --processes runs it
// starts a new `weft serve` on a folder bucket that already holds an
// indexed namespace (made by `weft bench query --load true`), with
// --objstore-latency and --objstore-bandwidth, times its start until
// /readyz answers, sends one query (a different dataset query each run),
// times the answer, and kills the process. Each run prints a JSON line
// (ready and first-query milliseconds, the answer's temperature, bucket
// requests, round trips, bytes, recall@k); a last line gives the medians.
// --queries N > 1 sends N queries to each process, one after the other:
// those that come back COLD measure the cold path's recall over more
// queries (with a low --objstore-bandwidth the load takes long enough).
//
// With --fabric URL (a running `weft fabric --workers bucket` on the same
// bucket, warm) each run starts a `weft worker --heartbeat` instead, waits
// --membership-wait for the fabric to see it (its only worker), and sends
// the queries through the fabric: a worker scaled from zero. It stops each
// worker with SIGTERM (which removes its heartbeat) and waits
// --membership-wait again.
func RunCold(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, _, err := parseOptions(args)
	if err != nil {
		return err
	}
	dir, bucket := o.str("data", ""), o.str("bucket", "")
	if dir == "" || bucket == "" {
		return errors.New("--data DATASET_DIR and --bucket DIR (a weft serve --data folder holding the loaded namespace) are required")
	}
	name := o.str("namespace", "")
	latency, err := time.ParseDuration(o.str("latency", "50ms"))
	if err != nil {
		return fmt.Errorf("--latency: %w", err)
	}
	bandwidth := o.str("bandwidth", "0")
	procs, err := o.num("processes", 20)
	if err != nil {
		return err
	}
	perProc, err := o.num("queries", 1)
	if err != nil {
		return err
	}
	k, err := o.num("k", 10)
	if err != nil {
		return err
	}
	ef, err := o.num("ef", 0)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	binary := o.str("weft", self)
	fabricURL := o.str("fabric", "")
	memberWait, err := time.ParseDuration(o.str("membership-wait", "600ms"))
	if err != nil {
		return fmt.Errorf("--membership-wait: %w", err)
	}
	if err := o.checkAllRead(); err != nil {
		return err
	}
	if procs < 1 || perProc < 1 {
		return errors.New("--processes and --queries must be positive")
	}
	ds, name, err := benchDataset(dir, name, k)
	if err != nil {
		return err
	}
	truth := func(qi int) float64 { return float64(ds.gtDist[qi*ds.gtK+k-1]) }
	var ready, first, recalls, reqs, bytes []float64
	var coldRecall float64
	var coldN int
	for p := range procs {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		args := []string{"serve", "--index.disabled"}
		if fabricURL != "" {
			args = []string{"worker", "--heartbeat", "100ms"}
		}
		cmd := exec.CommandContext(ctx, binary, append(args, "--data", bucket, "--listen", addr,
			"--objstore-latency", latency.String(), "--objstore-bandwidth", bandwidth, "--log-level", "warn")...)
		cmd.Stderr = stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		base := "http://" + addr
		up, err := waitReady(ctx, base+"/readyz", start)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
		if fabricURL != "" {
			base = fabricURL
			time.Sleep(memberWait) // the fabric reads heartbeats every --workers.poll
		}
		qc := weftv1connect.NewQueryServiceClient(http.DefaultClient, base)
		for j := range perProc {
			qi := (p*perProc + j) * 7919 % ds.nq // spread over the queries
			req := &weftv1.QueryRequest{Namespace: name, Vector: ds.query[qi*ds.dim : (qi+1)*ds.dim], TopK: uint32(k), Search: &weftv1.SearchParams{Ef: uint32(ef)}}
			t := time.Now()
			resp, err := qc.Query(ctx, connect.NewRequest(req))
			took := time.Since(t)
			if err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return fmt.Errorf("process %d, query %d: %w", p, qi, err)
			}
			ids := make([]int64, k)
			for i := range ids {
				ids[i] = -1
			}
			for i, r := range resp.Msg.GetResults() {
				if id, err := strconv.ParseInt(r.GetId(), 10, 64); err == nil && i < k {
					ids[i] = id
				}
			}
			rec := ds.recall(qi, ids, k, truth(qi))
			st := resp.Msg.GetStats()
			cold := st.GetCacheTemperature() == weftv1.CacheTemperature_CACHE_TEMPERATURE_COLD
			if cold {
				coldRecall += rec
				coldN++
			}
			if j > 0 {
				continue
			}
			ready = append(ready, ms(up))
			first = append(first, ms(took))
			recalls = append(recalls, rec)
			reqs = append(reqs, float64(st.GetBucketRequests()))
			bytes = append(bytes, float64(st.GetBytesFetched()))
			line := fmt.Sprintf(`{"process":%d,"query":%d,"ready_ms":%.1f,"first_query_ms":%.1f,"temperature":%q,"bucket_requests":%d,"round_trips":%d,"bytes_fetched":%d,"rows_scored":%d,"recall":%.2f}`,
				p, qi, ms(up), ms(took), st.GetCacheTemperature().String(), st.GetBucketRequests(), st.GetBucketRoundTrips(), st.GetBytesFetched(), st.GetDocumentsScanned(), rec)
			if _, err := fmt.Fprintln(stdout, line); err != nil {
				return err
			}
		}
		if fabricURL != "" {
			_ = cmd.Process.Signal(syscall.SIGTERM) // removes its heartbeat
			_ = cmd.Wait()
			time.Sleep(memberWait)
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	mean := 0.0
	for _, r := range recalls {
		mean += r
	}
	mean /= float64(len(recalls))
	if coldN > 0 {
		coldRecall /= float64(coldN)
	}
	_, err = fmt.Fprintf(stdout, `{"engine":"weft-cold","dataset":%q,"latency_ms":%.0f,"bandwidth":%q,"processes":%d,"ready_ms_p50":%.1f,"first_query_ms_p50":%.1f,"first_query_ms_max":%.1f,"recall_first":%.4f,"bucket_requests_p50":%.0f,"bytes_fetched_p50":%.0f,"cold_queries":%d,"recall_cold":%.4f}`+"\n",
		ds.name, ms(latency), bandwidth, procs, median(ready), median(first), slices.Max(first), mean, median(reqs), median(bytes), coldN, coldRecall)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url every 2 ms until it answers 200 and returns the
// time since start.
func waitReady(ctx context.Context, url string, start time.Time) (time.Duration, error) {
	for deadline := start.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
	}
	return 0, fmt.Errorf("%s did not answer within 30 s", url)
}
