"""Pure functions from custom resources to the Kubernetes objects and broker.conf files they imply.

Nothing here talks to the API server: controllers read objects from listers, turn them into a model
(:mod:`.model`), build the desired objects from it and compare them with what exists (:mod:`.diff`).

- :mod:`.model` — ``from_broker_cluster`` / ``from_broker`` / ``from_name_service``: the internal
  model, with the problems that stop a sync and the notes that do not (:mod:`.modelparts`,
  :mod:`.propsources`, :mod:`.properties`, :mod:`.propvalues`); ``broker_common_config_map_name`` for the
  Broker's ``volumes[0]`` ConfigMap;
- :mod:`.brokerconf` — broker.conf text per member; ``scripts/start-broker.sh`` starts it;
- :mod:`.brokers`, :mod:`.nameservers`, :mod:`.console` — desired objects per kind;
- :mod:`.naming`, :mod:`.meta`, :mod:`.pod`, :mod:`.jvm` — names, DNS addresses, labels, owners,
  pod parts (probes, security and scheduling defaults), the JVM heap;
- :mod:`.diff` — ``needs_update(desired, current)`` and ``merged(desired, current)``.
"""
