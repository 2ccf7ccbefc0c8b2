"""The scheduler's pure decision: demand, supply, pods and caps in, a plan out."""
from runners.decision import Job, Limits, Pod, State, Why, Worker, decide, label_key, label_set

NOW = 1_000_000.0
LIMITS = Limits(start_timeout=600, idle_timeout=300, board_max_starting=4)


def job(job_id: str, *, owner: str = "1", pool: str = "scw", labels=("ubuntu-24.04-riscv",),
        status: str = "pending", age: float = 60, runner: str = "", image: str = "img:1") -> Job:  # fmt: skip
    return Job(
        job_id=job_id, status=status, owner_id=owner, entity_id=owner, entity_type="organization",
        entity_name=f"org{owner}", repo=f"org{owner}/repo", pool=pool, image=image,
        labels=label_set(labels), created_at=NOW - age, installation_id="7", runner_name=runner,
    )  # fmt: skip


def worker(name: str, state: State = State.RUNNING, *, owner: str = "1", pool: str = "scw",
           labels=("ubuntu-24.04-riscv",), job_id: str = "", since: float = 10,
           image: str = "img:1") -> Worker:  # fmt: skip
    return Worker(
        name=name, state=state, owner_id=owner, entity_id=owner, pool=pool, image=image,
        labels=label_set(labels), created_at=NOW - since, updated_at=NOW - since, job_id=job_id,
        runner_id="99", target='{"kind": "org"}',
    )  # fmt: skip


def running(*names: str) -> dict[str, Pod]:
    return {name: Pod(name, "Running", NOW - 100) for name in names}


def test_label_sets_are_lower_case_sorted_and_without_repeats():
    assert label_set(["Self-Hosted", "ubuntu", "self-hosted"]) == ("self-hosted", "ubuntu")
    assert label_key(["b", "A"]) == "a\nb"


def test_it_starts_one_runner_per_uncovered_pending_job_oldest_first():
    jobs = [job("1", age=30), job("2", age=90), job("3", age=60)]
    plan = decide(jobs, [worker("w1", State.LAUNCHED)], {"w1": Pod("w1", "Pending", NOW)},
                  frozenset({"w1"}), LIMITS, NOW)  # fmt: skip
    # The idle worker covers the oldest job; the two younger ones get runners.
    assert [start.job.job_id for start in plan.starts] == ["3", "1"]
    assert plan.shortfall == 0


def test_a_runner_of_one_label_set_is_no_supply_for_another_in_the_same_pool():
    jobs = [job("1", labels=["a"]), job("2", labels=["b"])]
    plan = decide(jobs, [worker("wa", labels=["a"])], running("wa"), frozenset({"wa"}), LIMITS, NOW)
    assert [start.job.job_id for start in plan.starts] == ["2"]


def test_a_worker_on_a_job_is_not_supply_and_learns_its_job_from_runner_name():
    jobs = [job("1", status="running", runner="w1"), job("2")]
    plan = decide(jobs, [worker("w1")], running("w1"), frozenset({"w1"}), LIMITS, NOW)
    assert [(w.name, job_id) for w, job_id in plan.links] == [("w1", "1")]
    assert [start.job.job_id for start in plan.starts] == ["2"]


def test_account_caps_count_live_workers_in_every_pool():
    jobs = [job(str(n), pool="scw" if n % 2 else "rvv") for n in range(10)]
    workers = [worker("busy", pool="rvv", job_id="x")]
    limits = Limits(600, 300, board_max_starting=100, account_caps={"1": 3})
    plan = decide(jobs, workers, running("busy"), frozenset(), limits, NOW)
    assert len(plan.starts) == 2  # 3 minus the one already running a job
    assert plan.shortfall == 8


def test_a_blocked_account_gets_no_runner():
    limits = Limits(600, 300, 4, account_caps={"1": 0})
    assert decide([job("1")], [], {}, frozenset(), limits, NOW).starts == ()


def test_each_board_takes_a_bounded_number_of_pods_not_yet_running():
    jobs = [job(str(n), owner=str(n % 3)) for n in range(20)] + [job("other", pool="rvv")]
    starting = [worker(f"s{n}", State.LAUNCHED, owner="9") for n in range(2)]
    pods = {w.name: Pod(w.name, "Pending", NOW) for w in starting}
    plan = decide(jobs, starting, pods, frozenset(pods), LIMITS, NOW)
    pools = [start.job.pool for start in plan.starts]
    assert pools.count("scw") == 2 and pools.count("rvv") == 1


def test_accounts_take_turns_so_a_busy_one_cannot_starve_the_others():
    busy = [job(f"b{n}", owner="1", age=1000 - n) for n in range(50)]
    quiet = [job("q1", owner="2", age=10), job("q2", owner="3", age=5)]
    plan = decide(busy + quiet, [], {}, frozenset(), LIMITS, NOW)
    assert [start.job.owner_id for start in plan.starts] == ["1", "2", "3", "1"]


def test_finished_pods_stop_their_workers_and_a_runner_that_ran_its_job_is_not_deregistered():
    workers = [worker("done", job_id="5"), worker("failed"), worker("gone")]
    pods = {
        "done": Pod("done", "Succeeded", NOW, "Completed", 0),
        "failed": Pod("failed", "Failed", NOW, "Error", 1),
    }
    plan = decide([], workers, pods, frozenset(pods), LIMITS, NOW)
    stops = {stop.worker.name: stop for stop in plan.stops}
    assert (stops["done"].why, stops["done"].deregister) == (Why.COMPLETED, False)
    assert (stops["failed"].why, stops["failed"].detail, stops["failed"].deregister) == (
        Why.POD_FAILED, "Error", True,
    )  # fmt: skip
    assert stops["gone"].why == Why.POD_GONE


def test_a_pod_pending_past_the_start_timeout_is_replaced():
    stuck = worker("stuck", State.LAUNCHED, since=601)
    pods = {"stuck": Pod("stuck", "Pending", NOW - 601, "ImagePullBackOff")}
    plan = decide([job("1")], [stuck], pods, frozenset(pods), LIMITS, NOW)
    assert [(s.why, s.detail) for s in plan.stops] == [(Why.START_TIMEOUT, "ImagePullBackOff")]
    assert [start.job.job_id for start in plan.starts] == ["1"]  # no longer covered


def test_idle_runners_are_reaped_only_past_the_timeout_and_only_the_excess():
    workers = [worker("old", since=900), worker("older", since=1200), worker("young", since=60)]
    plan = decide([job("1")], workers, running("old", "older", "young"), frozenset(), LIMITS, NOW)
    # Three runners for one job: two are excess, and both idle ones past the timeout go,
    # the longest idle first; the young one is kept for the job.
    assert [stop.worker.name for stop in plan.stops] == ["older", "old"]
    assert plan.starts == ()


def test_interrupted_provisioning_is_adopted_with_pod_and_secret_and_rolled_back_without():
    workers = [
        worker("whole", State.REGISTERED),
        worker("no-secret", State.REGISTERED),
        worker("nothing", State.RESERVED),
    ]
    pods = {"whole": Pod("whole", "Pending", NOW), "no-secret": Pod("no-secret", "Pending", NOW)}
    plan = decide([job("1")], workers, pods, frozenset({"whole"}), LIMITS, NOW)
    assert [w.name for w in plan.adoptions] == ["whole"]
    assert [w.name for w in plan.rollbacks] == ["no-secret", "nothing"]
    assert plan.starts == ()  # the adopted one covers the job


def test_a_pod_that_starts_running_is_marked_running():
    plan = decide([job("1")], [worker("w", State.LAUNCHED)], running("w"), frozenset(), LIMITS, NOW)
    assert [w.name for w in plan.started] == ["w"]
    assert plan.starts == ()


def test_within_an_account_the_oldest_job_starts_first_whatever_its_label_set():
    jobs = [job("10", labels=["a"], age=10), job("11", labels=["a"], age=5),
            job("99", labels=["b"], age=500)]  # fmt: skip
    limits = Limits(600, 300, 4, account_caps={"1": 1})
    assert [start.job.job_id for start in decide(jobs, [], {}, frozenset(), limits, NOW).starts] == ["99"]


def test_a_running_runner_that_never_takes_the_job_waiting_for_it_is_replaced():
    waiting = job("1", age=2000)
    broken = worker("broken", since=400)  # running, idle for longer than the timeout
    plan = decide([waiting], [broken], running("broken"), frozenset(), LIMITS, NOW)
    assert [(stop.worker.name, stop.detail) for stop in plan.stops] == [("broken", "not taking jobs")]
    assert [start.job.job_id for start in plan.starts] == ["1"]
    # A job that arrived after the runner came up has not waited for it all along.
    fresh = job("2", age=100)
    assert decide([fresh], [broken], running("broken"), frozenset(), LIMITS, NOW).stops == ()
