# Coro::Intro (Coro 6.57): a locked semaphore, unlocked by another coro.
# Prints: trying to lock semaphore / unlocking semaphore / we got it!
use Coro;

my $sem = new Coro::Semaphore 0; # a locked semaphore

async {
   print "unlocking semaphore\n";
   $sem->up;
};

print "trying to lock semaphore\n";
$sem->down;
print "we got it!\n";
