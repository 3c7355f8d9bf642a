#!/usr/bin/env bash
# flake.sh: runs the concurrency-heavy tests COUNT times (default 50) under
# the race detector, to catch a flaky test before CI does. A new test that
# starts goroutines, shares a bucket or kills processes joins the list below
# and passes `make flake COUNT=200` before it lands (docs/contributing.md).
#
# -short makes the hammers do fewer rounds per run: many short repetitions
# find interleavings that one long run does not.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-50}
targets=(
	"./plugins TestStoreConcurrentResolveLoadsOnce|TestStoreResolveGivesUpWithItsContext|TestStoreHammer|TestStoreSharedBucket|TestHammerReload|TestConcurrentCalls"
	"./objstore (TestInMemory|TestFilesystem|TestS3)$/(CreateConcurrent|AtomicUpload)$|TestWALAppendRetries"
	"./fabric TestGroupCommit|TestTwoServersShareABucket|TestTwoIndexersShareABucket|TestIdleProcessAfterCollectedWAL|TestWriteLeaseFencesOtherWriters|TestSampledRecallAndExplain|TestRecallAlarm|TestIndexedDeletesAndReplacements|TestDeleteAndRecreateWhileAnotherServes|TestIVFLists|TestIndexerProcess|TestWorkerSearchShards|TestAPIKeys|TestWriterReadsItsWritesWhileAdopting|TestIdleNamespaceUnloads|TestUnreadableSegment|TestBucketOutage|TestIndexerUnloadsIdleNamespaces|TestCodesSearch|TestColdQuery$|TestColdQueryNeverStale|TestColdQueryPassesLeaseRenewals|TestLazySegments|TestLazyDamagedBlock|TestLazyWarmsCompactedSegments|TestPinnedNamespaceStays|TestFabricFansOutToWorkers|TestWorkerFromZeroAnswersCold|TestTenantGroups|TestWritesForwardToLeaseHolder|TestBucketMembers|TestHotShardSpreadsOverTwoWorkers|TestQueryTraceSpansFabricAndWorker"
	"./cmd/weft TestKill9KeepsAcknowledgedWrites|TestKill9DuringIndexing|TestIndexerCommand|TestKill9IndexerProcess|TestServeAbuse"
	"./cache TestDiskConcurrentReadsAndEvictions|TestConcurrentGetsShareOneLoad"
)
# Three lanes: the plugin and fabric tests, objstore's uploads, and the
# process tests, which mostly wait on real processes.
lane() {
	for t in "$@"; do
		read -r pkg run <<<"$t"
		echo "== $pkg -run '$run' -count=$COUNT"
		go test -race -short -timeout 30m -count="$COUNT" -run "$run" "$pkg" || return 1
	done
}
start=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
lane "${targets[1]}" >"$logs/objstore" 2>&1 &
objstore=$!
lane "${targets[3]}" >"$logs/processes" 2>&1 &
processes=$!
status=0
lane "${targets[0]}" "${targets[2]}" "${targets[4]}" || status=1
wait "$objstore" || status=1
wait "$processes" || status=1
cat "$logs/objstore" "$logs/processes"
if ((status)); then
	echo "flake: FAILED after $((SECONDS - start)) s"
	exit 1
fi
echo "flake: all passed $COUNT times in $((SECONDS - start)) s"
