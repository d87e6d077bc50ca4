# Coro::Intro (Coro 6.57): every coro has its own lexicals.
# Prints: Hello, World!
use Coro;

sub printit {
   my ($string) = @_;

   cede;

   print $string;
}

async { printit "Hello, " };
async { printit "World!\n" };

cede; cede; # do it
