// A JVM WebSocket client that shares no code with heimdallr, standing in for the ancestor's
// Java-WebSocket clients (that library is not packaged by Debian; the JDK's own
// java.net.http.WebSocket is). Run as a single source file (Java 11+):
//
//   java tests/java/AncestorClient.java ws://127.0.0.1:PORT/ROOM[?token=...] CLIENTS MESSAGES
//
// Opens CLIENTS connections to the URL; each sends MESSAGES text frames in the ancestor's demo
// format; every client must receive every message of every client (itself included), unchanged
// and in each sender's order. Prints "ok <received>" and exits 0, or prints why and exits 1.
// An upgrade the server refuses prints "refused <status>" and exits 2.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

public class AncestorClient {
  static final class Member implements WebSocket.Listener {
    final List<String> received = new ArrayList<>();
    final StringBuilder partial = new StringBuilder();
    final CountDownLatch done;
    final AtomicReference<String> failure;

    Member(int expected, AtomicReference<String> failure) {
      this.done = new CountDownLatch(expected);
      this.failure = failure;
    }

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        synchronized (received) {
          received.add(partial.toString());
        }
        partial.setLength(0);
        done.countDown();
      }
      ws.request(1);
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
      failure.compareAndSet(null, "closed by the server: " + code + " " + reason);
      while (done.getCount() > 0) done.countDown();
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      failure.compareAndSet(null, "error: " + error);
      while (done.getCount() > 0) done.countDown();
    }
  }

  static String message(int client, int seq) {
    return "{\"msgType\":\"user\",\"userId\":\"java-" + client + "\",\"text\":\"m" + seq
        + " \\u00e9\",\"date\":" + (1764345600000L + seq) + "}";
  }

  public static void main(String[] args) throws Exception {
    final URI uri = URI.create(args[0]);
    final int clients = Integer.parseInt(args[1]);
    final int messages = Integer.parseInt(args[2]);
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final AtomicReference<String> failure = new AtomicReference<>();
    final List<Member> members = new ArrayList<>();
    final List<WebSocket> sockets = new ArrayList<>();
    for (int c = 0; c < clients; ++c) {
      Member member = new Member(clients * messages, failure);
      try {
        sockets.add(http.newWebSocketBuilder().buildAsync(uri, member).join());
      } catch (CompletionException e) {
        if (e.getCause() instanceof WebSocketHandshakeException refused) {
          System.out.println("refused " + refused.getResponse().statusCode());
          System.exit(2);
        }
        throw e;
      }
      members.add(member);
    }
    for (int seq = 0; seq < messages; ++seq) {
      for (int c = 0; c < clients; ++c) sockets.get(c).sendText(message(c, seq), true).join();
    }
    int received = 0;
    for (int c = 0; c < clients; ++c) {
      Member member = members.get(c);
      if (!member.done.await(10, TimeUnit.SECONDS)) {
        failure.compareAndSet(null, "client " + c + " got " + member.received.size() + " of "
            + clients * messages);
      }
      synchronized (member.received) {
        for (int sender = 0; sender < clients; ++sender) {
          int next = 0;
          for (String text : member.received) {
            if (!text.contains("\"userId\":\"java-" + sender + "\"")) continue;
            if (!text.equals(message(sender, next))) {
              failure.compareAndSet(null, "client " + c + " got " + text + " where "
                  + message(sender, next) + " was due");
            }
            ++next;
          }
        }
        received += member.received.size();
      }
    }
    // The verdict is taken before we close: the server's echo of our close is no failure.
    final String verdict = failure.get();
    for (WebSocket ws : sockets) ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").join();
    if (verdict != null) {
      System.out.println("FAILED: " + verdict);
      System.exit(1);
    }
    System.out.println("ok " + received);
  }
}
