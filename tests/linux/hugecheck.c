/*
 * hugecheck: hugepages in an unmodified Linux PV guest (issue 9). Built static like hvcheck.c
 * by `hvtool initramfs`; run by tests/linux/init for hvtest=huge, hvtest=demo and
 * hvtest=hugebench.
 *
 *   hugecheck huge N R THP [pause]
 *       N huge pages in the pool (/proc/sys/vm/nr_hugepages), R rounds of: a hugetlbfs file
 *       mapped shared and a MAP_HUGETLB|MAP_ANONYMOUS region mapped private, a pattern
 *       written and verified across both, the file mapped private too and read, a child
 *       that inherits the file's two mappings, reads the pattern through the shared one
 *       (writes a marker the parent must see) and writes the private one (copy-on-write of
 *       huge pages: neither the file nor the parent sees it), unmap, unlink. The written
 *       MAP_HUGETLB region is not inherited (MADV_DONTFORK, see maps_round for why).
 *       THP is "thp" (THP set to always, anonymous memory touched, a child forked with those
 *       huge pages mapped writes them all: copy-on-write; AnonHugePages must grow) or
 *       "nothp" (THP must be off, see thp_off for why: the same memory gets no huge page). With "pause", the first round stops once
 *       its mappings are live: `HVSNAP live` (see snapshot()).
 *       One line per part, each starting as FAIL:  HUGE: PASS|FAIL pool|maps|thp|thp-off ...
 *       A kernel without hugepage support (no PSE in CPUID: no HugePages_ lines in
 *       /proc/meminfo) gives `HUGE: SKIP no hugepages (PSE not visible)` and status 77.
 *
 *   hugecheck bench MIB RANDMIB
 *       Fault in, touch (one write per 4 KiB) and unmap MIB MiB with 2 MiB hugetlb pages,
 *       then with 4 KiB pages (THP off), then RANDMIB MiB of random accesses with each.
 *       Before the first phase and after each, a snapshot: `HVSNAP <phase>` (the host tool
 *       reads the hypervisor's MMSTAT counters there). Lines:
 *         HUGEBENCH: <phase> <MiB> MiB in <ms> ms
 *
 * snapshot(): prints `HVSNAP <name>: waiting for a line on the console` and waits (at most
 * 60 s) for a line on stdin, which `hvtool` types once it has read the counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HUGE_SIZE (2UL << 20)
#define SMALL_SIZE 4096UL
#define MOUNT_POINT "/dev/hugepages"
#define SNAPSHOT_WAIT_MS 60000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The value of a /proc/meminfo line ("HugePages_Total:", "AnonHugePages:"), or -1. */
static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long value = -1;
	size_t n = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n)) {
			value = atol(line + n);
			break;
		}
	fclose(f);
	return value;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void snapshot(const char *name)
{
	printf("HVSNAP %s: waiting for a line on the console\n", name);
	fflush(stdout);
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char buf[128];
	/* read(), not stdio: a canonical tty gives one line per read and nothing is buffered
	 * here for the next snapshot. */
	if (poll(&p, 1, SNAPSHOT_WAIT_MS) == 1 && read(0, buf, sizeof buf) > 0)
		return;
	printf("HVSNAP %s: no line within %d s, going on\n", name, SNAPSHOT_WAIT_MS / 1000);
}

static int verdict(const char *part, int ok, const char *detail)
{
	printf("HUGE: %s %s %s\n", ok ? "PASS" : "FAIL", part, detail);
	fflush(stdout);
	return ok ? 0 : 1;
}

static uint64_t pattern(uint64_t seed, size_t word)
{
	return seed ^ (word * 0x9e3779b97f4a7c15ULL);
}

static void fill(volatile uint64_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		p[i] = pattern(seed, i);
}

/* Whether every word of `p` holds the pattern of `seed`. */
static int holds(volatile uint64_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		if (p[i] != pattern(seed, i))
			return 0;
	return 1;
}

/* The pool: N huge pages, checked by HugePages_Total. Returns 0 PASS, 1 FAIL, 77 SKIP. */
static int pool(long n)
{
	char detail[160];
	long size_kb = meminfo("Hugepagesize:");
	long before = meminfo("HugePages_Total:");
	if (before < 0 || size_kb <= 0) {
		printf("HUGE: SKIP no hugepages (PSE not visible): /proc/meminfo has no "
		       "HugePages_Total\n");
		return 77;
	}
	char text[32];
	snprintf(text, sizeof text, "%ld", n);
	int set = write_file("/proc/sys/vm/nr_hugepages", text) == 0;
	long total = meminfo("HugePages_Total:");
	long free = meminfo("HugePages_Free:");
	snprintf(detail, sizeof detail,
		 "HugePages_Total=%ld (asked %ld, was %ld) HugePages_Free=%ld Hugepagesize=%ldkB "
		 "set=%d",
		 total, n, before, free, size_kb, set);
	return verdict("pool", set && total == n && free == n && size_kb * 1024 == (long)HUGE_SIZE,
		       detail);
}

/* The first round tells its steps (`HUGE: step ...`), for a person and for finding a hang. */
static int telling;

static void step(const char *what)
{
	if (telling) {
		printf("HUGE: step %s\n", what);
		fflush(stdout);
	}
}

struct round {
	int file_ok, anon_ok, used_ok, child_ok, private_kept, shared_seen, unmapped, freed;
};

/*
 * The child of a round. It inherited the parent's shared mapping of the round's hugetlbfs
 * file and its private mapping of the same file (which the parent only read): it reads the
 * parent's pattern through both, writes a marker through the shared one (the parent must see
 * it), then writes every huge page of the private one: a copy-on-write of each huge page,
 * which must reach neither the file nor the parent.
 */
static int child_of_round(uint64_t *shared, uint64_t *fileprivate, size_t len,
			  uint64_t shared_seed, uint64_t child_seed, uint64_t marker)
{
	int ok = holds(shared, len, shared_seed) && holds(fileprivate, len, shared_seed);
	fill(fileprivate, len, child_seed);
	ok &= holds(fileprivate, len, child_seed) && holds(shared, len, shared_seed);
	shared[len / 8 - 1] = marker;
	return ok;
}

/*
 * One round: a hugetlbfs file mapped shared and a MAP_HUGETLB region mapped private, each
 * `pages` huge pages, written and verified; the file mapped private too and read; a child
 * (see child_of_round) that inherits the file's two mappings; the parent's copies checked;
 * unmap and unlink give every page back to the pool.
 *
 * The written MAP_HUGETLB region is MADV_DONTFORK: Debian's 6.1 kernel, as shipped, cannot
 * fork a process whose *copied* page tables hold huge PMDs when it runs as a Xen PV guest.
 * Fork pins the child's page tables (xen_dup_mmap -> __xen_pgd_pin); the walker takes each
 * huge PMD for a pointer to a PTE page and takes that page's split page-table lock
 * (xen_pin_page -> xen_pte_lock), which for a hugetlb head page lies over hugetlb's own page
 * flags (page->private, nonzero while the page is in use): the guest spins in
 * native_queued_spin_lock_slowpath forever, inside the guest, with no hypervisor call to act
 * on. Fork copies the huge PMDs only of mappings with anonymous pages (vma_needs_copy): the
 * shared file mapping and the private file mapping the parent only read are not copied (the
 * child faults them in), so the child inherits and uses those two.
 */
static struct round maps_round(int r, size_t pages, int pause)
{
	struct round o = { 0 };
	size_t len = pages * HUGE_SIZE;
	uint64_t shared_seed = 0x5a5a0000ULL + r, private_seed = 0xc0ffee00ULL + r;
	uint64_t child_seed = 0xbeef0000ULL + r, marker = 0x600d0000ULL + r;
	long free0 = meminfo("HugePages_Free:");
	char path[64];
	snprintf(path, sizeof path, MOUNT_POINT "/round%d", r);
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, len) != 0)
		return o;
	uint64_t *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t *private = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED ||
	    madvise(private, len, MADV_DONTFORK) != 0) {
		close(fd);
		unlink(path);
		return o;
	}
	step("mapped a hugetlbfs file (shared) and a MAP_HUGETLB region (private)");
	fill(shared, len, shared_seed);
	o.file_ok = holds(shared, len, shared_seed);
	step("wrote and verified the shared file mapping");
	fill(private, len, private_seed);
	o.anon_ok = holds(private, len, private_seed);
	step("wrote and verified the private MAP_HUGETLB mapping");
	/* Both mappings hold their pages now: the free count fell by 2 * pages. */
	o.used_ok = meminfo("HugePages_Free:") == free0 - 2 * (long)pages;
	uint64_t *fileprivate = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (fileprivate == MAP_FAILED) {
		o.file_ok = 0;
		fileprivate = NULL;
	} else {
		o.file_ok &= holds(fileprivate, len, shared_seed);
		step("mapped the file private too and read it");
	}
	if (pause)
		snapshot("live");
	pid_t pid = fileprivate ? fork() : -1;
	if (pid == 0)
		_exit(child_of_round(shared, fileprivate, len, shared_seed, child_seed, marker) ? 0 : 1);
	step("forked: the child reads the inherited shared mapping (and writes a marker) and "
	     "writes the inherited private one (copy-on-write of huge pages)");
	int status = -1;
	o.child_ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		     WEXITSTATUS(status) == 0;
	step("the child exited; checking the parent's copies");
	/* The file kept the parent's pattern (the child's private writes reached neither it nor
	 * the parent's private view of it) but for the marker written through the shared one. */
	o.private_kept = holds(private, len, private_seed) && holds(shared, len - 8, shared_seed) &&
			 fileprivate && holds(fileprivate, len - 8, shared_seed);
	o.shared_seen = shared[len / 8 - 1] == marker;
	o.unmapped = munmap(shared, len) == 0 && munmap(private, len) == 0 &&
		     (!fileprivate || munmap(fileprivate, len) == 0);
	step("unmapped all three");
	close(fd);
	unlink(path);
	o.freed = meminfo("HugePages_Free:") == free0;
	return o;
}

static int maps(int rounds, int pause)
{
	char detail[256];
	const size_t pages = 4;
	int good = 0;
	struct round o = { 0 };
	mkdir(MOUNT_POINT, 0755);
	int mounted = mount("hugetlbfs", MOUNT_POINT, "hugetlbfs", 0, NULL) == 0 || errno == EBUSY;
	for (int r = 0; mounted && r < rounds; r++) {
		telling = r == 0;
		o = maps_round(r, pages, pause && r == 0);
		if (!(o.file_ok && o.anon_ok && o.used_ok && o.child_ok && o.private_kept &&
		      o.shared_seen && o.unmapped && o.freed))
			break;
		good++;
	}
	snprintf(detail, sizeof detail,
		 "%d/%d rounds of a %zu MiB hugetlbfs file (shared) + %zu MiB MAP_HUGETLB "
		 "(private), a child inheriting the file mapped shared and private (copy-on-write): "
		 "mounted=%d file=%d anon=%d pool-used=%d child=%d parent-kept=%d shared-seen=%d "
		 "munmap=%d pool-freed=%d",
		 good, rounds, pages * 2, pages * 2, mounted, o.file_ok, o.anon_ok, o.used_ok,
		 o.child_ok, o.private_kept, o.shared_seen, o.unmapped, o.freed);
	return verdict("maps", good == rounds, detail);
}

#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

struct anon_run {
	long before, during; /* AnonHugePages, kB */
	int ok, child, unmapped;
};

/* 32 MiB of 2 MiB-aligned anonymous memory (MADV_HUGEPAGE) written and checked; a child,
 * forked with it mapped, writes all of it (copy-on-write); the parent's copy must stay. */
static struct anon_run anon_fork_cow(void)
{
	struct anon_run o = { 0 };
	const size_t len = 32UL << 20;
	o.before = meminfo("AnonHugePages:");
	uint8_t *raw = mmap(NULL, len + HUGE_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return o;
	uint64_t *p = (uint64_t *)(((uintptr_t)raw + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
	madvise(p, len, MADV_HUGEPAGE);
	fill(p, len, 0x7411);
	o.ok = holds(p, len, 0x7411);
	o.during = meminfo("AnonHugePages:");
	pid_t pid = fork();
	if (pid == 0) {
		fill(p, len, 0x7412);
		_exit(holds(p, len, 0x7412) ? 0 : 1);
	}
	int status = -1;
	o.child = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		  WEXITSTATUS(status) == 0;
	o.ok &= holds(p, len, 0x7411);
	o.unmapped = munmap(raw, len + HUGE_SIZE) == 0;
	return o;
}

/* THP `always`: the anonymous run must get huge pages (AnonHugePages grows). */
static int thp(void)
{
	char detail[200];
	int set = write_file(THP_ENABLED, "always") == 0;
	struct anon_run o = anon_fork_cow();
	snprintf(detail, sizeof detail,
		 "AnonHugePages %ld kB before, %ld kB with 32 MiB touched; set-always=%d "
		 "pattern=%d child=%d munmap=%d",
		 o.before, o.during, set, o.ok, o.child, o.unmapped);
	return verdict("thp", set && o.ok && o.child && o.unmapped && o.during >= o.before + 2048,
		       detail);
}

/*
 * THP switched off (the guest's command line has transparent_hugepage=never, init passes
 * "nothp"): the kernel says [never], and the anonymous run gets no huge page. Why off: with
 * THP on, a fork pins the child's page tables and the walker, taking each huge PMD for a PTE
 * page, sets PG_pinned on the THP head page; PG_pinned is PG_owner_priv_1, which for an
 * anonymous page means PG_swapcache, so the copy-on-write fault that follows takes the page
 * for a swap-cache page and the kernel oopses in delete_from_swap_cache (seen under this
 * hypervisor). That is inside the guest; no hypervisor can undo it.
 */
static int thp_off(void)
{
	char detail[200], mode[64] = "";
	int fd = open(THP_ENABLED, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, mode, sizeof mode - 1);
		mode[n > 0 ? n - 1 : 0] = 0;
		close(fd);
	}
	int never = strstr(mode, "[never]") != NULL;
	struct anon_run o = anon_fork_cow();
	snprintf(detail, sizeof detail,
		 "THP mode \"%s\"; AnonHugePages %ld kB before, %ld kB with 32 MiB touched; "
		 "pattern=%d child=%d munmap=%d",
		 mode, o.before, o.during, o.ok, o.child, o.unmapped);
	return verdict("thp-off", never && o.during == o.before && o.ok && o.child && o.unmapped,
		       detail);
}

static int huge(long n, int rounds, int with_thp, int pause)
{
	int r = pool(n);
	if (r == 77)
		return 77;
	int failed = r;
	failed += maps(rounds, pause);
	if (with_thp)
		failed += thp();
	else
		failed += thp_off();
	return failed ? 1 : 0;
}

/* Fault in, touch and unmap `mib` MiB, 2 MiB hugetlb pages or 4 KiB ones; ms, or -1. */
static double fault_touch_unmap(size_t mib, int hugetlb)
{
	size_t len = mib << 20;
	double t0 = now_ms();
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | (hugetlb ? MAP_HUGETLB : 0), -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (!hugetlb && madvise(p, len, MADV_NOHUGEPAGE) != 0)
		return -1;
	for (size_t off = 0; off < len; off += SMALL_SIZE)
		p[off] = (uint8_t)(off >> 12);
	for (size_t off = 0; off < len; off += SMALL_SIZE)
		if (p[off] != (uint8_t)(off >> 12))
			return -1;
	if (munmap(p, len) != 0)
		return -1;
	return now_ms() - t0;
}

static volatile uint64_t sink; /* keeps the random run's sum alive */

/* Random 8-byte reads and writes over `mib` MiB (touched first, outside the timing). */
static double random_access(size_t mib, int hugetlb, long accesses)
{
	size_t len = mib << 20;
	uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | (hugetlb ? MAP_HUGETLB : 0), -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (!hugetlb)
		madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len / 8; off += SMALL_SIZE / 8)
		p[off] = off;
	uint64_t x = 0x2545f4914f6cdd1dULL, sum = 0;
	size_t words = len / 8;
	double t0 = now_ms();
	for (long i = 0; i < accesses; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t w = x % words;
		sum += p[w];
		p[w] = sum;
	}
	double ms = now_ms() - t0;
	munmap(p, len);
	sink = sum;
	return ms;
}

static void report(const char *phase, size_t mib, double ms)
{
	if (ms < 0)
		printf("HUGEBENCH: %s %zu MiB FAILED (%s)\n", phase, mib, strerror(errno));
	else
		printf("HUGEBENCH: %s %zu MiB in %.1f ms\n", phase, mib, ms);
	fflush(stdout);
}

static int bench(size_t mib, size_t rand_mib)
{
	const long accesses = 4L << 20;
	long want = (long)((mib > rand_mib ? mib : rand_mib) >> 1);
	char text[32];
	snprintf(text, sizeof text, "%ld", want);
	write_file("/proc/sys/vm/nr_hugepages", text);
	write_file(THP_ENABLED, "never");
	long total = meminfo("HugePages_Total:");
	printf("HUGEBENCH: pool HugePages_Total=%ld (asked %ld)%s\n", total, want,
	       total == want ? "" : ": the 2 MiB runs will fail");
	snapshot("start");
	report("huge-fault-touch-unmap", mib, fault_touch_unmap(mib, 1));
	snapshot("huge-done");
	report("small-fault-touch-unmap", mib, fault_touch_unmap(mib, 0));
	snapshot("small-done");
	report("huge-random", rand_mib, random_access(rand_mib, 1, accesses));
	snapshot("huge-random-done");
	report("small-random", rand_mib, random_access(rand_mib, 0, accesses));
	snapshot("small-random-done");
	printf("HUGEBENCH: done (%ld random accesses per random run)\n", accesses);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "huge") && argc >= 5)
		return huge(atol(argv[2]), atoi(argv[3]), !strcmp(argv[4], "thp"),
			    argc > 5 && !strcmp(argv[5], "pause"));
	if (!strcmp(what, "bench") && argc >= 4)
		return bench(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: hugecheck huge N ROUNDS thp|nothp [pause] | bench MIB RANDMIB\n");
	return 2;
}
