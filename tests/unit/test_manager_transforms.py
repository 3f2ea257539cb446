"""What the operator keeps of the objects it caches in most numbers (manager's informer transforms)."""

from __future__ import annotations

from rocketmq_operator.manager import slim_budget, slim_pod


def test_a_budget_is_cached_without_its_status():
    pdb = {"metadata": {"name": "b", "resourceVersion": "7"}, "spec": {"maxUnavailable": 1},
           "status": {"currentHealthy": 3, "disruptionsAllowed": 1}}
    assert slim_budget(pdb) == {"metadata": {"name": "b", "resourceVersion": "7"},
                                "spec": {"maxUnavailable": 1}}


def test_a_pod_keeps_identity_labels_owner_and_readiness_only():
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"a": "b"},
                        "resourceVersion": "3",
                        "ownerReferences": [{"uid": "o"}], "generateName": "x-"},
           "spec": {"nodeName": "n1",
                    "containers": [{"name": "broker", "image": "i", "env": [{"name": "E"}]}],
                    "volumes": [{"name": "v"}]},
           "status": {"phase": "Running", "podIP": "10.0.0.1",
                      "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"restartCount": 2}], "startTime": "t"}}
    slim = slim_pod(pod)
    assert slim["metadata"] == {"name": "p", "namespace": "ns", "uid": "u", "labels": {"a": "b"},
                                "resourceVersion": "3",
                                "ownerReferences": [{"uid": "o"}]}
    assert "spec" not in slim
    assert slim["status"] == {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}


def test_a_pod_update_that_only_binds_it_or_moves_other_conditions_is_no_news_to_a_sync():
    from rocketmq_operator.controllers.runtime.enqueue import same_but_version

    def pod(rv, **status):
        return {"metadata": {"name": "p", "namespace": "ns", "resourceVersion": rv}, "spec": {},
                "status": status}

    created = slim_pod(pod("1", phase="Pending"))
    bound = pod("2", phase="Pending", conditions=[{"type": "PodScheduled", "status": "True",
                                                   "lastTransitionTime": "t"}])
    bound["spec"]["nodeName"] = "n1"
    assert same_but_version(created, slim_pod(bound))
    running = slim_pod(pod("3", phase="Running", podIP="10.0.0.1",
                           conditions=[{"type": "PodScheduled", "status": "True"},
                                       {"type": "Ready", "status": "False", "lastProbeTime": None}]))
    assert not same_but_version(slim_pod(bound), running)
    ready = slim_pod(pod("4", phase="Running", podIP="10.0.0.1",
                         conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": "t2"}]))
    assert not same_but_version(running, ready)


def test_the_operator_process_freezes_its_start_up_objects_and_collects_young_objects_less_often():
    import gc

    from rocketmq_operator.manager import GC_YOUNG_THRESHOLD, tune_garbage_collector

    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD > before[0]
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
