/*
 * pause: the sandbox process of a pod on the local real nodes (hack/images.py builds it into the
 * image registry.k8s.io/pause). It holds the pod's namespaces open by doing nothing: it sleeps until
 * a signal arrives, reaps any child that is re-parented to it (it is PID 1 of the pod when the pod
 * shares its PID namespace), and exits 0 on SIGINT or SIGTERM.
 *
 *   gcc -static -Os -s -o pause pause.c
 *   pause -v    prints the version and exits
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "rocketmq-operator-pause 3.10"

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static void handle(int sig, void (*fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = sig == SIGCHLD ? SA_NOCLDSTOP | SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        perror("pause: sigaction");
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts(VERSION);
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: warning: not running as PID 1\n", stderr);
    }
    handle(SIGINT, on_stop);
    handle(SIGTERM, on_stop);
    handle(SIGCHLD, on_child);
    for (;;) {
        pause();
    }
    return 42; /* not reached */
}
