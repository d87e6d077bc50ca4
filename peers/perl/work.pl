#!/usr/bin/perl
# work: the suite's workloads with Perl's Coro itself (libcoro-perl,
# libev-perl, libanyevent-perl). `work.pl <workload> [n]` prints
# `RESULT v unit`; `work.pl echo-server|http-server 127.0.0.1:PORT`
# serves until killed. The same work as peers/src/bin/work.rs (see its
# header). File reads use Coro::AIO (IO::AIO; libio-aio-perl and libanyevent-aio-perl) when it is
# installed, plain blocking reads otherwise (the runner's row says which).
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
my $COLD     = 10_000;
my $FILETASKS = 64;
my $FILESIZE = 4096;
my $RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

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
} elsif ($w eq 'spawn') {
    my $batch = sub {
        my $t = time;
        (async { 1 })->join for 1 .. $SPAWNS;
        time - $t;
    };
    $batch->();
    printf "RESULT %.3f ns\n", $batch->() * 1e9 / $SPAWNS;
} elsif ($w eq 'spawn-cold') {
    my $t = time;
    my @c = map { async { cede } } 1 .. $COLD;
    $_->join for @c;
    printf "RESULT %.3f ns\n", (time - $t) * 1e9 / $COLD;
} elsif ($w eq 'fileread') {
    my $aio = eval { require Coro::AIO; 1 };
    my $dir = $ENV{SUITE_FILES} // 'target/suite-files';
    my @files = map { sprintf "%s/f%06d", $dir, $_ } 0 .. $n - 1;
    my $pass = sub {
        my ($next, $total) = (0, 0);
        my $t = time;
        my @c = map {
            async {
                while ($next < @files) {
                    my $f = $files[$next++];
                    my $data;
                    if ($aio) {
                        Coro::AIO::aio_load($f, $data) >= 0 or die "$f: $!\n";
                    } else {
                        open my $fh, '<:raw', $f or die "$f: $!\n";
                        local $/;
                        $data = <$fh>;
                    }
                    $total += length $data;
                }
            }
        } 1 .. $FILETASKS;
        $_->join for @c;
        ($total, time - $t);
    };
    $pass->();
    my ($total, $e) = $pass->();
    die "read $total bytes, expected @{[$n * $FILESIZE]}\n" unless $total == $n * $FILESIZE;
    printf "RESULT %.3f us\n", $e * 1e6 / $n;
} elsif ($w eq 'echo-server' || $w eq 'http-server') {
    require AnyEvent::Socket;
    require Coro::Handle;
    use Socket qw(IPPROTO_TCP TCP_NODELAY);
    my $http = $w eq 'http-server';
    my ($host, $port) = $n =~ /^(.+):(\d+)$/ or die "a server needs an address, like 127.0.0.1:7400\n";
    AnyEvent::Socket::tcp_server($host, $port, sub {
        my ($fh) = @_;
        setsockopt $fh, IPPROTO_TCP, TCP_NODELAY, 1;
        async {
            my $h = Coro::Handle::unblock($fh);
            $h->partial(1);    # sysread returns what is there, even nothing
            my $buf = '';
            while (length $buf < 4096) {
                my $r = $h->sysread($buf, 4096 - length $buf, length $buf);
                if (!defined $r) {    # nothing there yet: wait, then again
                    last unless $!{EAGAIN} && $h->readable;
                    next;
                }
                last unless $r;
                if (!$http) {
                    $h->syswrite($buf);
                    $buf = '';
                    next;
                }
                my $heads = 0;
                while ((my $i = index $buf, "\r\n\r\n") >= 0) {
                    substr($buf, 0, $i + 4, '');
                    $heads++;
                }
                $h->syswrite($RESPONSE x $heads) if $heads;
            }
            $h->close;
        };
    });
    AnyEvent->condvar->recv;
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
} elsif ($w eq 'select') {
    print "NA Coro has no select\n";
} else {
    die "unknown workload $w\n";
}
