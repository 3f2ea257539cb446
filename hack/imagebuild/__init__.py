"""A small OCI image builder for the local real nodes: no Docker engine, no registry.

``python3 hack/images.py build`` writes each image as an OCI image-layout tar archive (``oci-layout``,
``index.json``, ``blobs/sha256/…``) that ``ctr -n k8s.io images import ARCHIVE`` imports and tags: the
index entry carries ``io.containerd.image.name`` (the normalized reference, e.g.
docker.io/library/rocketmq-operator:dev — ctr names the image after it, and it is what CRI resolves a
pod's ``image: rocketmq-operator:dev`` to) and ``org.opencontainers.image.ref.name`` (the tag), plus
the platform. Layers are gzip tars (application/vnd.oci.image.layer.v1.tar+gzip).

Images
  ``registry.k8s.io/pause:3.10``   pause.c (ours) built with ``gcc -static``; sleeps, reaps children,
                                   exits 0 on SIGINT/SIGTERM. User 65535.
  ``docker.io/apache/rocketmq:V``  V = ROCKETMQ_VERSION of hack/versions.env. The official image's
                                   layout: user ``rocketmq`` 3000:3000, ROCKETMQ_HOME
                                   /home/rocketmq/rocketmq-V (bin/ conf/ lib/, owned by 3000), working
                                   directory $ROCKETMQ_HOME/bin, store /home/rocketmq/store, logs
                                   /home/rocketmq/logs. Launchers (rocketmq/bin/, ours) read JAVA_OPT,
                                   HEAP_OPTS, JAVA_OPT_EXT, JAVA_HOME like RocketMQ's scripts.
                                   Debian bookworm minbase + openjdk-17-jre-headless + procps; lib/ is
                                   the release's servers (broker, namesrv, proxy, controller) and tools
                                   with their dependencies from Maven Central (hack/rocketmq/pom.xml,
                                   profile ``image``); conf/ holds the logback files from those jars.
  ``rocketmq-operator:dev``        the Dockerfile's image: Debian bookworm minbase + python3 (3.11),
                                   /opt/rocketmq-operator a virtualenv with requirements.lock and the
                                   operator's wheel, user 65532, nothing written at run time, ENTRYPOINT
                                   ``rocketmq-operator run``.

Why Debian's JRE and not a jlink'ed runtime: a jlink image of the modules RocketMQ plausibly needs
(java.se, jdk.unsupported, jdk.management, jdk.crypto.ec, jdk.zipfs, jdk.naming.dns, jdk.jcmd;
stripped, compressed) measures 52 MiB against 184 MiB for /usr/lib/jvm of openjdk-17-jre-headless,
so the package costs about 60 MiB of compressed archive. It buys reliability: it is the runtime the
tests' JVMs already run (same build, security updates through apt), it has no module list that could
miss a module only a rare code path loads, it keeps its class-data-sharing archive (faster JVM starts
for every mqadmin), and it does not depend on the build machine's JDK carrying jmods or matching the
image's C library.

Determinism and caching
  The same inputs give the same digests (checked: a rebuilt RocketMQ image has the same manifest; a
  rebuilt virtualenv layer the same digest). A fresh debootstrap differs only in Java's cacerts
  keystore (PKCS12 salts), so a root filesystem is rebuilt only when its recipe changes.
  Layer tars list entries sorted by path with mtime 0, empty user/group names, and uid/gid/mode set
  per entry (so $ROCKETMQ_HOME comes out owned by 3000 although the build runs as root); gzip headers
  carry no name or time; configs and manifests are canonical JSON with ``created`` 1970-01-01. Python
  files are compiled with unchecked-hash .pyc headers (PEP 552), so the fixed mtimes do not make them
  stale. Everything lives in ~/.cache/rocketmq-operator/images/ (XDG_CACHE_HOME moves it):
    rootfs/<name>-<key>   debootstrap trees, keyed by suite, packages, users, steps (debian.py)
    debs/                 downloaded .deb files, shared by the trees
    jars/, wheels/        Maven and PyPI downloads, keyed by pom.xml / requirements.lock
    layers/<slot>.json    each layer's input key and digest; blobs/ the layer blobs
    <ref>.oci.tar         the archives (stable path per reference), <ref>.oci.json their input key
  An image is rebuilt only when its key changes: the recipe, its input files (launchers, pause.c,
  pom.xml and the version, the operator's sources, setup.cfg, pyproject.toml, README.md and
  requirements.lock) and the builder's own code. One build runs at a time (a lock file).

Needs root for debootstrap and chroot (the pause image only needs gcc); debootstrap, gcc and the
static C library are installed with apt-get when missing. The Debian mirror is the machine's own.
"""
