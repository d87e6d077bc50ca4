# Coro::Intro (Coro 6.57): main sleeps; the coro wakes it, or nothing can.
# Either exits quietly, or dies with "FATAL: deadlock detected." and a listing.
use Coro;

my $wakeme = $Coro::current;

async {
   $wakeme->ready if 0.5 > rand;
};

schedule;
