"""Parsing of sbatch, squeue and sinfo output captured from Slurm 22.05 (Debian 12)."""

from __future__ import annotations

import pytest

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import (
    SEP,
    ClusterClock,
    JobStatus,
    JobTag,
    Partition,
    SlurmBackend,
    SlurmError,
    UserDesktop,
    cluster_now,
    gres_gpu_types,
    gres_gpus,
    job_comment,
    parse_job_comment,
    parse_partition_squeue,
    parse_private_data,
    parse_sacct,
    parse_sbatch,
    parse_sinfo,
    parse_squeue,
    sbatch_argv,
    shifted,
)
from dcv_widget.transport.base import CommandResult

# Captured with: SLURM_TIME_FORMAT=%s squeue --me --states=all --noheader
#   --format=%i^_%T^_%r^_%N^_%L^_%P^_%V^_%S^_%e^_%k
# (a running job, one completing, one cancelled while pending, one pending in a down partition;
# added as Slurm documents them: a pending job with the backfill scheduler's estimated start
# and a separator in its comment, a running job without a time limit)
SQUEUE = (
    "1010\x1fRUNNING\x1fNone\x1fdcv-node-1\x1f19:27\x1fdcv\x1f1795957137\x1f1795957137"
    "\x1f1795958337\x1fdcv-widget:novnc:29e5f22ba7f04fa9a081e99de735582f\n"
    "1012\x1fCOMPLETING\x1fNone\x1fdcv-node-1\x1f19:51\x1fdcv\x1f1795957155\x1f1795957156"
    "\x1f1795957165\x1fdcv-widget:novnc:6c87dceef3e14d6a8c8426f876b17f60:c4a8fcdc8e05:jupyter\n"
    "1014\x1fCANCELLED\x1fJobHeldUser\x1f\x1f5:00\x1fdcv-maint\x1f1795957174\x1f1795957176"
    "\x1f1795957176\x1f(null)\n"
    "1015\x1fPENDING\x1fPartitionDown\x1f\x1f5:00\x1fdcv-maint\x1f1795957174\x1fN/A\x1fN/A"
    "\x1f(null)\n"
    "7\x1fPENDING\x1fResources\x1f\x1f1:00:00\x1fviz\x1f1795957000\x1f1795960000\x1f1795963600"
    "\x1fnote\x1fwith a separator\n"
    "8\x1fRUNNING\x1fNone\x1fviz-1\x1fUNLIMITED\x1fviz\x1f1795950000\x1f1795950000\x1fUnknown"
    "\x1f(null)\n"
)
# Captured with: SLURM_TIME_FORMAT=%s squeue --all --partition=dcv --name=dcv-widget --noheader
#   --states=PENDING,CONFIGURING,RUNNING,COMPLETING
#   --format=%u^_%i^_%T^_%r^_%N^_%L^_%P^_%V^_%S^_%e^_%k
# (a job of another tool named dcv-widget, and one whose comment holds the separator, added)
PARTITION_SQUEUE = (
    "dcvtest\x1f517\x1fCOMPLETING\x1fNone\x1fdcv-node-1\x1f9:53\x1fdcv\x1f1795957155"
    "\x1f1795957156\x1f1795957165\x1fdcv-widget:novnc:8fa951f1357d47c597e0859ea9b384a0::ssm\n"
    "dcvstudent1\x1f518\x1fPENDING\x1fResources\x1f\x1f5:00\x1fdcv\x1f1795957174\x1fN/A"
    "\x1fN/A\x1fdcv-widget:novnc:probe1\n"
    "alice\x1f519\x1fRUNNING\x1fNone\x1fdcv-node-1\x1f58:12\x1fdcv\x1f1795957137\x1f1795957137"
    "\x1f1795960737\x1f(null)\n"
    "bob\x1f520\x1fRUNNING\x1fNone\x1fdcv-node-1\x1f1:00:00\x1fdcv\x1f1795957137\x1f1795957137"
    "\x1f1795960737\x1fnote\x1fdcv-widget:dcv:x\n"
)
# As documented for sacct --noheader --parsable2 --format=JobIDRaw,State,NodeList
# Captured from the local Slurm's slurmdbd (22.05): sacct --noheader --parsable2 --delimiter=^_
# --jobs=… --format=JobIDRaw,State,NodeList. Completed, failed (exit 3), cancelled by its user
# (uid 1001) while running, timed out (its batch step says CANCELLED: only the allocation's line
# counts), and cancelled before it got a node.
SACCT = (
    "3029\x1fCOMPLETED\x1fdcv-node-1\n"
    "3029.batch\x1fCOMPLETED\x1fdcv-node-1\n"
    "3030\x1fFAILED\x1fdcv-node-1\n"
    "3030.batch\x1fFAILED\x1fdcv-node-1\n"
    "3031\x1fCANCELLED by 1001\x1fdcv-node-1\n"
    "3031.batch\x1fCANCELLED\x1fdcv-node-1\n"
    "3032\x1fTIMEOUT\x1fdcv-node-1\n"
    "3032.batch\x1fCANCELLED\x1fdcv-node-1\n"
    "3034\x1fCANCELLED by 1001\x1fNone assigned\n"
)
# Captured with: sinfo --noheader --exact --format=%P^_%a^_%l^_%t^_%D^_%C^_%c^_%m^_%G^_%f (the local
# Slurm: a shared node, the same node in a partition set down, a powered-down cloud node)
SINFO = (
    "dcv*\x1fup\x1finfinite\x1fmix\x1f1\x1f1/7/0/8\x1f8\x1f8000\x1f(null)\x1f(null)\n"
    "dcv-maint\x1fdown\x1finfinite\x1fmix\x1f1\x1f1/7/0/8\x1f8\x1f8000\x1f(null)\x1f(null)\n"
    "dcv-cloud\x1fup\x1finfinite\x1fidle~\x1f1\x1f0/8/0/8\x1f8\x1f8000\x1f(null)\x1f(null)\n"
)
# As documented for sinfo (a partition's nodes grouped by state, one line each; %t's flags: *
# not responding, ~ powered down, # powering up, ! power down pending): a partition with a
# drained, a down and a busy node, one with a mixed and a booting cloud node, one without nodes.
SINFO_STATES = (
    "gpu\x1fup\x1f8:00:00\x1fdrain\x1f1\x1f0/0/32/32\x1f32\x1f256000"
    "\x1fgpu:a100:8(S:0-1)\x1fib,avx512\n"
    "gpu\x1fup\x1f8:00:00\x1fdown*\x1f1\x1f0/0/32/32\x1f32\x1f256000"
    "\x1fgpu:a100:8(S:0-1)\x1fib,avx512\n"
    "gpu\x1fup\x1f8:00:00\x1falloc\x1f2\x1f64/0/0/64\x1f32\x1f128000"
    "\x1fgpu:v100:4,mps:400\x1favx2\n"
    "viz\x1fup\x1f1:00:00\x1fmix!\x1f1\x1f6/2/0/8\x1f8\x1f16000\x1f(null)\x1f(null)\n"
    "viz\x1fup\x1f1:00:00\x1fidle#\x1f2\x1f0/16/0/16\x1f8\x1f32000\x1fgpu:1\x1fcloud\n"
    "old\x1finact\x1finfinite\x1fn/a\x1f0\x1f0/0/0/0\x1f0\x1f0\x1f(null)\x1f(null)\n"
)


def test_sbatch_parsable_plain_and_with_cluster() -> None:
    assert parse_sbatch("123\n") == "123"
    assert parse_sbatch("456;cluster-a\n") == "456"


def test_sbatch_garbage_is_an_error() -> None:
    with pytest.raises(SlurmError, match="instead of a job id"):
        parse_sbatch("sbatch: error: something\n")


def test_squeue_lines_become_job_statuses() -> None:
    jobs = parse_squeue(SQUEUE)
    assert jobs["1010"] == JobStatus(
        "1010",
        "RUNNING",
        "None",
        "dcv-node-1",
        "19:27",
        "dcv",
        "dcv-widget:novnc:29e5f22ba7f04fa9a081e99de735582f",
        submitted_at=1795957137.0,
        started_at=1795957137.0,
        expected_start=None,
        end_time=1795958337.0,
    )
    assert jobs["7"].partition == "viz"
    assert jobs["8"].time_left == "UNLIMITED"
    # Free text comes last, so a stray separator in it cannot shift the other fields.
    assert jobs["7"].comment == "note\x1fwith a separator"
    assert jobs["7"].nodes == ""
    assert jobs["7"].reason == "Resources"


def test_squeue_times_keep_their_meaning_per_state() -> None:
    jobs = parse_squeue(SQUEUE)
    # Pending: StartTime is the scheduler's estimate (N/A: none yet), never a start.
    estimated, unknown = jobs["7"], jobs["1015"]
    assert (estimated.started_at, estimated.expected_start, estimated.end_time) == (
        None,
        1795960000.0,
        None,
    )
    assert (unknown.started_at, unknown.expected_start, unknown.end_time) == (None, None, None)
    assert unknown.submitted_at == 1795957174.0
    # Completing: EndTime is when the job ended. Without a time limit: no end ("Unknown").
    assert jobs["1012"].end_time == 1795957165.0
    assert (jobs["8"].started_at, jobs["8"].end_time) == (1795950000.0, None)
    # Cancelled before it started: Slurm's StartTime is the cancel, and it had no node.
    cancelled = jobs["1014"]
    assert cancelled.started_at == cancelled.end_time and cancelled.nodes == ""


def test_the_cluster_clock_is_read_from_squeues_own_answer() -> None:
    jobs = parse_squeue(SQUEUE)
    # Job 1010 ends at 1795958337 with 19:27 left: squeue's clock read 1795957170.
    assert cluster_now(jobs) == 1795957170.0
    # Nothing running with a limit: nothing to read it from.
    assert cluster_now({k: jobs[k] for k in ("1012", "1014", "1015", "7", "8")}) is None


def test_times_move_onto_our_clock_only_for_a_real_difference() -> None:
    jobs = parse_squeue(SQUEUE)
    clock = ClusterClock()
    # Agreeing clocks (the answer's second against a 0.2 s round trip): no offset at all.
    clock.measure(jobs, 1795957170.1, 1795957170.3)
    assert clock.offset == 0.0
    # Our clock 90 s behind the cluster's.
    clock.measure(jobs, 1795957080.0, 1795957081.0)
    assert clock.offset == pytest.approx(90.0)
    # A measure within the tolerance of it changes nothing (no churn from poll to poll).
    clock.measure(jobs, 1795957079.0, 1795957080.0)
    assert clock.offset == pytest.approx(90.0)
    clock.measure({}, 0.0, 0.0)
    assert clock.offset == pytest.approx(90.0)
    moved = shifted(jobs["1010"], clock.offset)
    assert moved.started_at == pytest.approx(1795957137.0 - 90.0)
    assert moved.end_time == pytest.approx(1795958337.0 - 90.0)
    assert shifted(jobs["1015"], 90.0).expected_start is None
    assert shifted(jobs["7"], 90.0).expected_start == pytest.approx(1795960000.0 - 90.0)


def test_jobs_asks_for_epoch_seconds_and_answers_on_our_clock() -> None:
    transport = RecordingTransport(SQUEUE)
    slurm = SlurmBackend(transport)
    jobs = slurm.jobs()
    assert transport.envs == [{"SLURM_TIME_FORMAT": "%s"}]
    assert (
        transport.calls[0][-1]
        == "--format=%i\x1f%T\x1f%r\x1f%N\x1f%L\x1f%P\x1f%V\x1f%S\x1f%e\x1f%k"
    )
    # The captured answer is from the past: this machine's clock is "behind" it by that much.
    assert slurm.clock.offset < 0
    assert jobs["1010"].started_at == pytest.approx(1795957137.0 - slurm.clock.offset)


def test_squeue_empty_output_means_no_jobs() -> None:
    assert parse_squeue("") == {}


def test_squeue_short_line_is_an_error() -> None:
    with pytest.raises(SlurmError, match="unexpected squeue line"):
        parse_squeue("12\x1fRUNNING\n")


def test_sacct_keeps_allocations_and_the_first_word_of_their_state() -> None:
    jobs = parse_sacct(SACCT)
    assert {job_id: job.state for job_id, job in jobs.items()} == {
        "3029": "COMPLETED",
        "3030": "FAILED",
        "3031": "CANCELLED",
        "3032": "TIMEOUT",
        "3034": "CANCELLED",
    }
    assert jobs["3032"].nodes == "dcv-node-1"
    assert jobs["3034"].nodes == ""


def test_job_comment_round_trip_and_strangers() -> None:
    for tag in (
        JobTag("dcv", "ab12"),
        JobTag("novnc", "ab12", "c0ffee"),
        JobTag("dcv", "ab12", "", "ssm"),
        JobTag("dcv", "ab12", "c0ffee", "tunnel"),
    ):
        assert parse_job_comment(job_comment(tag)) == tag
    assert job_comment(JobTag("dcv", "ab12")) == "dcv-widget:dcv:ab12"
    assert job_comment(JobTag("dcv", "ab12", "", "ssh")) == "dcv-widget:dcv:ab12::ssh"
    assert parse_job_comment("dcv-widget:dcv:ab12:c0ffee:") is None
    assert parse_job_comment("(null)") is None
    assert parse_job_comment("dcv-widget:novnc") is None
    assert parse_job_comment("dcv-widget:novnc::") is None
    assert parse_job_comment("someone-else:dcv:ab12") is None


def test_sinfo_partitions_say_what_a_desktop_can_expect() -> None:
    dcv, maint, cloud = parse_sinfo(SINFO)
    assert dcv == Partition(
        name="dcv",
        state="up",
        default=True,
        time_limit="infinite",
        cpus_idle=7,
        cpus_asleep=0,
        cpus_total=8,
        nodes_total=1,
        nodes_unusable=0,
        node_cpus=8,
        node_memory_mb=8000,
        node_gpus=0,
    )
    # The partition is down though its node is fine: nothing starts there.
    assert (maint.name, maint.state, maint.available, maint.default) == (
        "dcv-maint",
        "down",
        False,
        False,
    )
    # A powered-down node's CPUs are idle, but a desktop waits for it to boot.
    assert (cloud.cpus_idle, cloud.cpus_asleep, cloud.cpus_total) == (0, 8, 8)


def test_sinfo_lines_of_one_partition_are_summed_by_node_state() -> None:
    gpu, viz, old = parse_sinfo(SINFO_STATES)
    # Drained and down (not responding) nodes are unusable; their CPUs are never idle.
    assert (gpu.nodes_total, gpu.nodes_unusable, gpu.cpus_idle, gpu.cpus_total) == (4, 2, 0, 128)
    # A node about to power down still runs jobs now; one powering up is not there yet.
    assert (viz.cpus_idle, viz.cpus_asleep, viz.nodes_unusable) == (2, 16, 0)
    assert (old.state, old.available, old.nodes_total) == ("inact", False, 0)
    # The biggest node of each, whatever its state: a desktop asks for one node at most that big.
    assert (gpu.node_cpus, gpu.node_memory_mb, gpu.node_gpus) == (32, 256000, 8)
    assert (viz.node_cpus, viz.node_memory_mb, viz.node_gpus) == (8, 32000, 1)
    assert (old.node_cpus, old.node_memory_mb, old.node_gpus) == (None, None, None)
    # Every node's features and GPU types, whatever its state: what the launcher offers.
    assert gpu.features == ("avx2", "avx512", "ib") and gpu.gpu_types == ("a100", "v100")
    assert viz.features == ("cloud",) and viz.gpu_types == ()  # an untyped GPU has no type
    assert (old.features, old.gpu_types) == ((), ())


def test_sinfo_gres_counts_gpus_only() -> None:
    assert gres_gpus("(null)") == 0
    assert gres_gpus("gpu:2") == 2
    assert gres_gpus("gpu:a100:4(S:0-1),mps:100") == 4
    assert gres_gpus("gpu:a100:2(S:0),gpu:v100:1(S:1)") == 3
    assert gres_gpus("gpu:tesla:2(S:0,1)") == 2
    assert gres_gpus("mps:400") == 0
    assert gres_gpu_types("gpu:t4:2,gpu:a10g:1(S:0)") == {"t4", "a10g"}
    assert gres_gpu_types("gpu:tesla:2(S:0,1),mps:100") == {"tesla"}
    assert gres_gpu_types("gpu:2") == gres_gpu_types("(null)") == gres_gpu_types("mps:a:4") == set()


def test_sinfo_garbage_is_an_error() -> None:
    with pytest.raises(SlurmError, match="unexpected sinfo line"):
        parse_sinfo("dcv*\x1fup\x1finfinite\x1f0/1/0/1\n")
    with pytest.raises(SlurmError, match="unexpected sinfo line"):
        parse_sinfo("dcv*\x1fup\x1finfinite\x1fmix\x1fone\x1f1/7/0/8\n")


def test_sbatch_argv_passes_every_value_as_one_option_item() -> None:
    request = LaunchRequest(
        partition="dcv", time="2:00:00", cpus=4, memory="8G", gpus=1, account="lab"
    )
    argv = sbatch_argv(
        request, output="/home/u/.dcv-widget/logs/desktop-%j.out", comment="dcv-widget:novnc"
    )
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--partition=dcv" in argv
    assert "--time=2:00:00" in argv
    assert "--cpus-per-task=4" in argv
    assert "--mem=8G" in argv
    assert "--gpus=1" in argv
    assert "--account=lab" in argv
    assert all(item.startswith("--") for item in argv[1:])


def test_sbatch_argv_leaves_defaults_to_the_cluster() -> None:
    argv = sbatch_argv(LaunchRequest(), output="o", comment="c")
    assert not any(
        item.startswith(("--partition", "--mem", "--gpus", "--account")) for item in argv
    )


def test_partition_squeue_lists_every_users_desktops_with_their_user() -> None:
    # Jobs named dcv-widget without a dcv_widget comment (alice's; bob's, whose comment only
    # holds one after a separator) are not desktops.
    own, student = parse_partition_squeue(PARTITION_SQUEUE)
    assert own == UserDesktop(
        "dcvtest",
        JobStatus(
            "517",
            "COMPLETING",
            "None",
            "dcv-node-1",
            "9:53",
            "dcv",
            "dcv-widget:novnc:8fa951f1357d47c597e0859ea9b384a0::ssm",
            submitted_at=1795957155.0,
            started_at=1795957156.0,
            end_time=1795957165.0,
        ),
        JobTag("novnc", "8fa951f1357d47c597e0859ea9b384a0", "", "ssm"),
    )
    assert (student.user, student.job.job_id, student.job.state) == (
        "dcvstudent1",
        "518",
        "PENDING",
    )
    assert student.job.nodes == "" and student.job.reason == "Resources"
    assert student.tag == JobTag("novnc", "probe1")


def test_partition_squeue_reads_each_line_as_jobs_does() -> None:
    # The same line without the user is exactly what parse_squeue (jobs()) reads.
    line = PARTITION_SQUEUE.splitlines()[1]
    (desktop,) = parse_partition_squeue(line)
    assert {desktop.job.job_id: desktop.job} == parse_squeue(line.split(SEP, 1)[1])


def test_partition_squeue_empty_and_broken_output() -> None:
    assert parse_partition_squeue("") == []
    assert parse_partition_squeue("\n\n") == []
    with pytest.raises(SlurmError, match="unexpected squeue line"):
        parse_partition_squeue("alice\x1f12\x1fRUNNING\n")
    with pytest.raises(SlurmError, match="unexpected squeue line"):
        parse_partition_squeue("no separator at all\n")


def test_private_data_from_scontrol_show_config() -> None:
    # Captured from scontrol show config (Slurm 22.05): the local Slurm hides cloud nodes only.
    config = (
        "Configuration data as of 2026-11-21T11:02:13\n"
        "PreemptType             = preempt/none\n"
        "PrivateData             = cloud\n"
        "ProctrackType           = proctrack/linuxproc\n"
    )
    assert parse_private_data(config) == {"cloud"}
    assert parse_private_data("PrivateData = accounts,jobs,usage\n") == {
        "accounts",
        "jobs",
        "usage",
    }
    assert parse_private_data("PrivateData             = none\n") == frozenset()
    assert parse_private_data("SLURM_VERSION = 22.05.8\n") == frozenset()


class RecordingTransport:
    """Answers every command with `stdout`; records the argv lists."""

    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        self.stdout, self.returncode, self.stderr = stdout, returncode, stderr
        self.calls: list[list[str]] = []
        self.envs: list[object] = []

    def run(self, argv: list[str], env: object = None, **_kwargs: object) -> CommandResult:
        self.calls.append(argv)
        self.envs.append(env)
        return CommandResult(tuple(argv), self.returncode, self.stdout, self.stderr)

    def read_text(self, path: str) -> str | None:
        return None

    def remove(self, path: str) -> None:
        pass

    def list_files(self, folder: str) -> dict[str, float]:
        return {}

    def home(self) -> str:
        return "/home/instructor"

    def make_private_dir(self, path: str) -> None:
        pass


def test_partition_desktops_is_one_squeue_call_with_explicit_fields() -> None:
    transport = RecordingTransport(PARTITION_SQUEUE)
    desktops = SlurmBackend(transport).partition_desktops("dcv")
    assert [d.job.job_id for d in desktops] == ["517", "518"]
    assert transport.calls == [
        [
            "squeue",
            "--all",
            "--partition=dcv",
            "--name=dcv-widget",
            "--states=PENDING,CONFIGURING,RUNNING,COMPLETING",
            "--noheader",
            "--format=%u\x1f%i\x1f%T\x1f%r\x1f%N\x1f%L\x1f%P\x1f%V\x1f%S\x1f%e\x1f%k",
        ]
    ]


def test_partition_desktops_refuses_a_list_of_partitions_before_slurm_sees_it() -> None:
    transport = RecordingTransport()
    for name in ("dcv,viz", "", "-x", "a b"):
        with pytest.raises(SlurmError, match="not a Slurm partition name"):
            SlurmBackend(transport).partition_desktops(name)
    assert transport.calls == []


def test_partition_desktops_says_when_squeue_fails() -> None:
    transport = RecordingTransport(returncode=1, stderr="squeue: error: Invalid user: nobody\n")
    with pytest.raises(SlurmError, match="squeue failed: squeue: error: Invalid user"):
        SlurmBackend(transport).partition_desktops("dcv")


def test_partitions_is_one_sinfo_call_with_explicit_fields() -> None:
    transport = RecordingTransport(SINFO)
    assert [p.name for p in SlurmBackend(transport).partitions()] == [
        "dcv",
        "dcv-maint",
        "dcv-cloud",
    ]
    assert transport.calls == [
        [
            "sinfo",
            "--noheader",
            "--exact",
            "--format=%P\x1f%a\x1f%l\x1f%t\x1f%D\x1f%C\x1f%c\x1f%m\x1f%G\x1f%f",
        ]
    ]


def test_a_node_a_reservation_covers_still_takes_jobs() -> None:
    # sinfo says "resv" of an idle node any reservation covers, even one core of it (the local
    # Slurm's class reservation): jobs outside the reservation run on the rest.
    (dcv,) = parse_sinfo(
        "dcv*\x1fup\x1finfinite\x1fresv\x1f1\x1f0/9/0/9\x1f9\x1f8000\x1fgpu:t4:2\x1fx11,avx2\n"
    )
    assert (dcv.nodes_unusable, dcv.cpus_idle, dcv.gpu_types) == (0, 9, ("t4",))
