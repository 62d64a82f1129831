"""The controller runtime: work queue, caches, memory kept between passes, leader
election, metrics. No kopf: the handlers bind it to kopf's watches."""
