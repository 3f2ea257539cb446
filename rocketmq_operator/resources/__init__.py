"""Pure functions from custom resources to the Kubernetes objects and broker.conf files they imply.

Nothing here talks to the API server: controllers read objects from listers, turn them into a model
(:mod:`.model`), build the desired objects from it and compare them with what exists (:mod:`.diff`).

- :mod:`.model` — ``from_broker_cluster`` / ``from_broker`` / ``from_name_service``: the internal
  model, with the problems the schema cannot catch (:mod:`.modelparts`, :mod:`.properties`);
- :mod:`.brokerconf` — broker.conf text per member; ``scripts/start-broker.sh`` starts it;
- :mod:`.brokers`, :mod:`.nameservers`, :mod:`.console` — desired objects per kind;
- :mod:`.naming`, :mod:`.meta`, :mod:`.pod` — names, DNS addresses, labels, owners, pod parts;
- :mod:`.diff` — ``needs_update(desired, current)`` and ``merged(desired, current)``.
"""
