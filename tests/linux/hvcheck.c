/*
 * hvcheck: the user-space checks the Linux integration test runs inside the guest.
 * Built static (gcc -static -O2 -pthread) by `hvtool initramfs`. Each check prints one line
 *   CHECK <name> PASS <detail>   or   CHECK <name> FAIL <detail>
 * and exits 0 only on PASS; a check starts as FAIL and passes only if every step ran.
 *
 *   hvcheck forkexec N      fork+exec N times /bin/true, print the rate (per second)
 *   hvcheck memtouch MIB R  map MIB MiB anonymous, write and verify every page, unmap; R rounds
 *   hvcheck pipe N          N ping-pong round trips between two processes over two pipes
 *   hvcheck mmap            mmap / write / mprotect(PROT_READ) / fault caught / munmap / fault
 *   hvcheck signal          handler for SIGUSR1 (kill), SIGALRM (timer) and SIGSEGV (recovery)
 *   hvcheck tls T N         T threads each counting N in a __thread variable
 *   hvcheck badsigreturn    a child returns from a signal handler to code selector 0x8b:
 *                           it must die of SIGSEGV (the kernel's iret fails), the rest lives
 *   hvcheck vdso N          clock_gettime through the vDSO (the pvclock in the time area
 *                           registered with VCPUOP_register_vcpu_time_memory_area) agrees
 *                           with the system call and is several times cheaper (no syscall)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int verdict(const char *name, int ok, const char *detail)
{
	printf("CHECK %s %s %s\n", name, ok ? "PASS" : "FAIL", detail);
	fflush(stdout);
	return ok ? 0 : 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int forkexec(int n)
{
	char detail[128];
	double t0 = now_s();
	int done = 0;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			break;
		done++;
	}
	double dt = now_s() - t0;
	snprintf(detail, sizeof detail, "%d/%d in %.3f s rate=%.1f/s", done, n, dt,
		 dt > 0 ? done / dt : 0.0);
	return verdict("forkexec", done == n, detail);
}

static int memtouch(long mib, int rounds)
{
	char detail[128];
	size_t len = (size_t)mib << 20;
	long page = sysconf(_SC_PAGESIZE);
	int ok_rounds = 0;
	for (int r = 0; r < rounds; r++) {
		unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		for (size_t off = 0; off < len; off += page)
			p[off] = (unsigned char)(off / page + r);
		int good = 1;
		for (size_t off = 0; off < len; off += page)
			if (p[off] != (unsigned char)(off / page + r)) {
				good = 0;
				break;
			}
		if (munmap(p, len) != 0 || !good)
			break;
		ok_rounds++;
	}
	snprintf(detail, sizeof detail, "%d/%d rounds of %ld MiB", ok_rounds, rounds, mib);
	return verdict("memtouch", ok_rounds == rounds, detail);
}

static int pingpong(int n)
{
	char detail[128];
	int to_child[2], to_parent[2];
	if (pipe(to_child) || pipe(to_parent))
		return verdict("pipe", 0, "pipe() failed");
	pid_t pid = fork();
	if (pid < 0)
		return verdict("pipe", 0, "fork() failed");
	if (pid == 0) {
		uint32_t v;
		close(to_child[1]);
		close(to_parent[0]);
		while (read(to_child[0], &v, sizeof v) == sizeof v) {
			v += 1;
			if (write(to_parent[1], &v, sizeof v) != sizeof v)
				_exit(1);
		}
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	int good = 0;
	double t0 = now_s();
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		uint32_t v = i * 2, back = 0;
		if (write(to_child[1], &v, sizeof v) != sizeof v ||
		    read(to_parent[0], &back, sizeof back) != sizeof back || back != v + 1)
			break;
		good++;
	}
	double dt = now_s() - t0;
	close(to_child[1]);
	int status = 1;
	waitpid(pid, &status, 0);
	snprintf(detail, sizeof detail, "%d/%d round trips in %.3f s", good, n, dt);
	return verdict("pipe", good == n && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       detail);
}

static sigjmp_buf fault_jump;
static volatile sig_atomic_t faults, usr1_seen, alarm_seen;

static void on_segv(int sig)
{
	(void)sig;
	faults++;
	siglongjmp(fault_jump, 1);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static void on_alarm(int sig)
{
	(void)sig;
	alarm_seen++;
}

/* Writes `value` at `p`; returns 1 if the write faulted (and was recovered). */
static int write_faults(volatile unsigned char *p, unsigned char value)
{
	if (sigsetjmp(fault_jump, 1) == 0) {
		*p = value;
		return 0;
	}
	return 1;
}

static int read_faults(volatile unsigned char *p)
{
	if (sigsetjmp(fault_jump, 1) == 0) {
		(void)*p;
		return 0;
	}
	return 1;
}

static int mmap_check(void)
{
	char detail[160];
	signal(SIGSEGV, on_segv);
	long page = sysconf(_SC_PAGESIZE);
	size_t len = 16 * page;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	if (p == MAP_FAILED)
		return verdict("mmap", 0, "mmap failed");
	int zeroed = 1;
	for (size_t i = 0; i < len; i++)
		zeroed &= p[i] == 0;
	memset(p, 0xa5, len);
	int written = p[len - 1] == 0xa5 && p[0] == 0xa5;
	int ro = mprotect(p, len, PROT_READ) == 0;
	int denied = write_faults(p + 5 * page, 1);
	int still = p[5 * page] == 0xa5;
	int rw = mprotect(p, len, PROT_READ | PROT_WRITE) == 0 && !write_faults(p + 5 * page, 2) &&
		 p[5 * page] == 2;
	int unmapped = munmap(p, len) == 0;
	int gone = read_faults(p);
	snprintf(detail, sizeof detail,
		 "zeroed=%d written=%d mprotect=%d write-denied=%d kept=%d rw-again=%d munmap=%d "
		 "gone=%d",
		 zeroed, written, ro, denied, still, rw, unmapped, gone);
	signal(SIGSEGV, SIG_DFL);
	return verdict("mmap",
		       zeroed && written && ro && denied && still && rw && unmapped && gone,
		       detail);
}

static int signal_check(void)
{
	char detail[128];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGSEGV, on_segv);
	kill(getpid(), SIGUSR1);
	struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 20000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	double t0 = now_s();
	while (!alarm_seen && now_s() - t0 < 10)
		;
	int segv = read_faults((volatile unsigned char *)16);
	snprintf(detail, sizeof detail, "usr1=%d alarm=%d segv-recovered=%d", (int)usr1_seen,
		 (int)alarm_seen, segv);
	return verdict("signal", usr1_seen == 1 && alarm_seen == 1 && segv && faults == 1,
		       detail);
}

static void on_usr1_bad_cs(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ctx;
	/* REG_CSGSFS: cs in bits 15:0. Entry 17 is beyond Linux's 16-entry GDT. */
	uc->uc_mcontext.gregs[REG_CSGSFS] = (uc->uc_mcontext.gregs[REG_CSGSFS] & ~0xffffLL) | 0x8b;
}

static int bad_sigreturn_check(void)
{
	char detail[128];
	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_usr1_bad_cs;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGUSR1, &sa, NULL);
		kill(getpid(), SIGUSR1);
		_exit(0); /* not reached: the return to cs 0x8b fails */
	}
	int status = 0;
	int waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	int segv = waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
	snprintf(detail, sizeof detail, "child status %#x (want killed by SIGSEGV)", status);
	return verdict("badsigreturn", segv, detail);
}

static __thread long tls_counter = 1000;
static __thread char tls_name[16];

struct tls_arg {
	int id;
	long n;
	long seen;
	int name_ok;
};

static void *tls_worker(void *p)
{
	struct tls_arg *a = p;
	snprintf(tls_name, sizeof tls_name, "worker%d", a->id);
	tls_counter = a->id * 1000000L;
	for (long i = 0; i < a->n; i++) {
		tls_counter++;
		if ((i & 1023) == 0)
			sched_yield();
	}
	char want[16];
	snprintf(want, sizeof want, "worker%d", a->id);
	a->name_ok = strcmp(tls_name, want) == 0;
	a->seen = tls_counter;
	return NULL;
}

static int tls_check(int threads, long n)
{
	char detail[128];
	pthread_t t[16];
	struct tls_arg args[16];
	if (threads > 16)
		threads = 16;
	int started = 0;
	for (int i = 0; i < threads; i++) {
		args[i] = (struct tls_arg){ .id = i + 1, .n = n };
		if (pthread_create(&t[i], NULL, tls_worker, &args[i]) != 0)
			break;
		started++;
	}
	int good = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		good += args[i].seen == args[i].id * 1000000L + n && args[i].name_ok;
	}
	snprintf(detail, sizeof detail, "%d/%d threads kept their own TLS, main=%ld", good,
		 threads, tls_counter);
	return verdict("tls", good == threads && tls_counter == 1000, detail);
}

static long long ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* Without the time area the vDSO falls back to the system call: then both cost the same. */
static int vdso_check(long n)
{
	char detail[160];
	struct timespec a, s, b;
	int ordered = 1;
	for (int i = 0; i < 100; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ordered &= ts_ns(&a) <= ts_ns(&s) && ts_ns(&s) <= ts_ns(&b);
	}
	double t0 = now_s();
	for (long i = 0; i < n; i++)
		clock_gettime(CLOCK_MONOTONIC, &a);
	double t1 = now_s();
	for (long i = 0; i < n; i++)
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s);
	double t2 = now_s();
	double vdso_ns = (t1 - t0) * 1e9 / n, sys_ns = (t2 - t1) * 1e9 / n;
	snprintf(detail, sizeof detail, "vdso %.0f ns/call, syscall %.0f ns/call, ordered=%d",
		 vdso_ns, sys_ns, ordered);
	return verdict("vdso", ordered && vdso_ns * 3 < sys_ns, detail);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *what = argc > 1 ? argv[1] : "";
	long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
	if (!strcmp(what, "forkexec"))
		return forkexec(a ? a : 200);
	if (!strcmp(what, "memtouch"))
		return memtouch(a ? a : 256, b ? b : 3);
	if (!strcmp(what, "pipe"))
		return pingpong(a ? a : 10000);
	if (!strcmp(what, "mmap"))
		return mmap_check();
	if (!strcmp(what, "signal"))
		return signal_check();
	if (!strcmp(what, "tls"))
		return tls_check(a ? a : 4, b ? b : 200000);
	if (!strcmp(what, "badsigreturn"))
		return bad_sigreturn_check();
	if (!strcmp(what, "vdso"))
		return vdso_check(a ? a : 20000);
	fprintf(stderr, "usage: hvcheck forkexec|memtouch|pipe|mmap|signal|tls|badsigreturn|vdso [args]\n");
	return 2;
}
