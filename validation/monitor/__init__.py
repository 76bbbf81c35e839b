"""Post-market monitoring (``radval monitor``): performance and drift after release (R25).

* :mod:`validation.monitor.protocol`: the monitoring protocol (YAML, strict, versioned);
* :mod:`validation.monitor.lock`: its lock (protocol and reference sha256);
* :mod:`validation.monitor.stream`: production batches, late labels, the reference tables;
* :mod:`validation.monitor.runner`: the incremental, append-only, audit-logged run;
* :mod:`validation.monitor.report`, :mod:`validation.monitor.charts`: the HTML report;
* :mod:`validation.monitor.simulate`: simulated production streams (demo and tests).

Statistics come from :mod:`validation.stats.monitoring`.
"""
