#!/usr/bin/perl
# work: the suite's workloads with Perl's Coro itself (libcoro-perl,
# libev-perl, libanyevent-perl). `work.pl <workload> [n]` prints
# `RESULT v unit`.
use strict;
use warnings;
use Coro;
use Coro::Semaphore;
use Coro::Channel;
use Coro::AnyEvent;
use Time::HiRes qw(time);

my $SWITCHES = 1_000_000;
my $SPAWNS   = 100_000;
my $TRIPS    = 200_000;
my $ACQUIRES = 200_000;
my $SEMTASKS = 100;

sub rss {
    open my $f, '<', '/proc/self/status' or return 0;
    while (<$f>) { return $1 * 1024 if /^VmRSS:\s+(\d+)/ }
    0;
}

my ($w, $n) = @ARGV;
die "usage: work.pl <workload> [n]\n" unless defined $w;
$n //= 100_000;

if ($w eq 'cede') {
    my $other = async { cede for 1 .. $SWITCHES / 2 };
    my $t = time;
    cede for 1 .. $SWITCHES / 2;
    my $e = time - $t;
    $other->join;
    printf "RESULT %.3f ns\n", $e * 1e9 / $SWITCHES;
} elsif ($w eq 'spawn' || $w eq 'spawn-cold') {
    my $batch = sub {
        my $t = time;
        (async { 1 })->join for 1 .. $SPAWNS;
        time - $t;
    };
    $batch->() if $w eq 'spawn';
    printf "RESULT %.3f ns\n", $batch->() * 1e9 / $SPAWNS;
} elsif ($w eq 'pingpong') {
    # new Coro::Channel 2 buffers one item, like bounded(1).
    my ($a, $b) = (Coro::Channel->new(2), Coro::Channel->new(2));
    my $echo = async { while (defined(my $v = $a->get)) { $b->put($v) } };
    my $t = time;
    for my $i (1 .. $TRIPS) { $a->put($i); $b->get }
    my $e = time - $t;
    $a->shutdown;
    $echo->join;
    printf "RESULT %.3f ns\n", $e * 1e9 / $TRIPS;
} elsif ($w eq 'semaphore') {
    my $sem = Coro::Semaphore->new(1);
    my $t = time;
    my @c = map { async { for (1 .. $ACQUIRES / $SEMTASKS) { my $g = $sem->guard; cede } } } 1 .. $SEMTASKS;
    $_->join for @c;
    printf "RESULT %.3f ns\n", (time - $t) * 1e9 / $ACQUIRES;
} elsif ($w eq 'timers') {
    my $t = time;
    my @c = map { async { Coro::AnyEvent::sleep 0.01 } } 1 .. $n;
    $_->join for @c;
    printf "RESULT %.3f ms\n", (time - $t) * 1e3;
} elsif ($w eq 'memory') {
    my $before = rss();
    my @c = map { async { schedule } } 1 .. $n;
    cede;
    printf "RESULT %.3f B\n", (rss() - $before) / $n;
    $_->cancel for @c;
} else {
    die "unknown workload $w\n";
}
