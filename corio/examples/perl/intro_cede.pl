# Coro::Intro (Coro 6.57): cede passes the CPU back and forth.
# Prints: main 1 / async 1 / main 2 / async 2
use Coro;

async {
   print "async 1\n";
   cede;
   print "async 2\n";
};

print "main 1\n";
cede;
print "main 2\n";
cede;
