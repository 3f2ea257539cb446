"""Pure decisions, facts in and a plan out: the order and gates of a roll (rollplan) and the steps of a
TopicTransfer (transferplan). Given the same inputs they return the same answer.

Imports nothing of Kubernetes, the network or the rest of the project.
"""
