#!/usr/bin/env escript
%% -*- erlang -*-
%%! +P 1048576
%%
%% The restart storm on Erlang/OTP: the peer of arbor-bench's `--tests storm`
%% (crates/arbor-bench/src/storm.rs). Run through scripts/storm-erlang.sh, or directly:
%%
%%   escript scripts/storm.erl 1000            # one size (the shell script runs one VM per size)
%%   STORM_SIZES="100 1000" escript scripts/storm.erl    # several, a fresh tree each
%%
%% The tree, under a one_for_one top supervisor:
%%   storm: a supervisor (one_for_one, intensity 10^9 per second: it never gives up) of N
%%          permanent workers. A worker is a bare proc_lib process: when (re)started it reports
%%          to the collector, then waits for `die` and exits with killed_on_command.
%%   ab:    a one_for_all supervisor of two such workers, a and b; b dies on command, the
%%          supervisor terminates a and restarts both.
%%
%% One storm: once all N workers are up, `die` is sent to all N from one loop; the storm's wall
%% time runs from just before the first send until the last of the N restarted workers
%% reported. Meanwhile a probe kills b again and again (at least once), and takes the time from
%% just before b's death until a and b have each started again.
%%
%% Environment:
%%   STORM_SIZES     sizes when none is given as an argument ("100 1000 10000 100000")
%%   STORM_REPS      storms per size (5); the wall reported is their median (the lower middle
%%                   value for an even count), the probe's percentiles pool every storm's samples
%%   STORM_STRATEGY  one_for_one (default: N static children, as arbor's leaves each are a
%%                   group of their own) or simple_one_for_one (N dynamic children of one spec)
%%   STORM_REPORT    collector (default: each start sends {up, Time} to a collector process) or
%%                   atomic (each start bumps an atomics counter; the start that reaches the
%%                   storm's target tells the harness, as storm.rs counts)
%%   STORM_LIMIT     seconds a storm may take before the run fails (600)
%%
%% Prints `RESULT name=value unit` lines (ms, three decimals) and `#` lines:
%%   storm_nN_wall, storm_nN_probe_{a,b}_p{50,99}, storm_nN_probe_samples.
-module(storm).
-mode(compile).

-export([main/1]).
%% supervisor callback, and the start functions and bodies of the processes.
-export([init/1, start_worker/1, worker/1, start_member/2, member/2]).

%% Restarts a supervisor allows per second before it gives up: never, here.
-define(INTENSITY, 1000000000).

main(Args) ->
    %% Every death would otherwise log a crash report and a supervisor report.
    logger:set_primary_config(level, none),
    Sizes =
        case Args of
            [] -> string:lexemes(os:getenv("STORM_SIZES", "100 1000 10000 100000"), " ");
            _ -> Args
        end,
    Cfg = #{
        reps => env_int("STORM_REPS", 5),
        strategy => list_to_atom(os:getenv("STORM_STRATEGY", "one_for_one")),
        report => list_to_atom(os:getenv("STORM_REPORT", "collector")),
        limit_ms => 1000 * env_int("STORM_LIMIT", 600)
    },
    ok = check(Cfg),
    try
        lists:foreach(fun(N) -> run_size(list_to_integer(N), Cfg) end, Sizes),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format("# FAILED ~w:~w ~w~n", [Class, Reason, Stack]),
            halt(1)
    end.

check(#{reps := Reps, strategy := S, report := R}) when
    Reps >= 1,
    (S =:= one_for_one orelse S =:= simple_one_for_one),
    (R =:= collector orelse R =:= atomic)
->
    ok;
check(Cfg) ->
    io:format("# FAILED bad settings ~w~n", [Cfg]),
    halt(2).

%% All storms of one size, in a tree of their own.
run_size(N, #{reps := Reps, limit_ms := Limit} = Cfg0) when N >= 1 ->
    Harness = self(),
    Probe = proc_lib:spawn_link(fun() -> probe_start(Harness, Limit) end),
    Reporter = reporter(Cfg0),
    Cfg = Cfg0#{n => N, probe => Probe, reporter => Reporter},
    T0 = now_ns(),
    arm(Reporter, N),
    {ok, Top} = supervisor:start_link(?MODULE, {top, Cfg}),
    [StormSup] = [P || {storm, P, supervisor, _} <- supervisor:which_children(Top)],
    case Cfg of
        #{strategy := simple_one_for_one} ->
            [{ok, _} = supervisor:start_child(StormSup, []) || _ <- lists:seq(1, N)];
        #{strategy := one_for_one} ->
            ok % init/1 gave the supervisor its N children
    end,
    Up = await_reached(Limit, N),
    receive {probe_ready, Probe} -> ok after Limit -> error(a_and_b_not_started) end,
    comment("storm_n~B: ~B workers up in ~.3f ms", [N, N, (Up - T0) / 1.0e6]),
    Runs = [storm(Rep, StormSup, Cfg) || Rep <- lists:seq(1, Reps)],
    {Walls, SampleLists} = lists:unzip(Runs),
    comment("storm_n~B: walls ~s ms, probe samples per storm ~w",
            [N, lists:join(" ", [io_lib:format("~.3f", [W]) || W <- Walls]),
             [length(S) || S <- SampleLists]]),
    Name = "storm_n" ++ integer_to_list(N),
    result(Name ++ "_wall", median(Walls), "ms"),
    Samples = lists:append(SampleLists),
    [result(lists:concat([Name, "_probe_", Who, "_p", round(P * 100)]),
            pct(P, [element(I, S) || S <- Samples]) / 1.0e6, "ms")
     || {Who, I} <- [{a, 1}, {b, 2}], P <- [0.50, 0.99]],
    result(Name ++ "_probe_samples", length(Samples), "count"),
    %% Tear the tree down before the next size.
    unlink(Top),
    unlink(Probe),
    exit(Probe, kill),
    Ref = monitor(process, Top),
    exit(Top, shutdown),
    receive {'DOWN', Ref, process, Top, _} -> ok end.

%% One storm: {wall in ms, probe samples as {A, B} latencies in ns}.
storm(Rep, StormSup, #{n := N, probe := Probe, reporter := Reporter, limit_ms := Limit}) ->
    %% OTP's supervisor keeps the time of every restart within its period (1 s, on a clock of
    %% whole seconds) in a list that each restart walks; a storm right after the last would
    %% walk the last one's restarts too. After two seconds they are forgotten at the first
    %% restart, so every storm starts as the first did.
    case Rep of
        1 -> ok;
        _ -> timer:sleep(2100)
    end,
    Workers = [P || {_, P, _, _} <- supervisor:which_children(StormSup), is_pid(P)],
    N = length(Workers),
    arm(Reporter, N),
    T0 = now_ns(),
    Probe ! {go, self()},
    send_die(Workers),
    Tn = await_reached(Limit, N),
    Probe ! stop,
    Samples = receive {samples, Probe, S} -> S after Limit -> error(probe_did_not_stop) end,
    {(Tn - T0) / 1.0e6, Samples}.

send_die([P | Ps]) ->
    P ! die,
    send_die(Ps);
send_die([]) ->
    ok.

%% Supervisors.
init({top, Cfg}) ->
    Storm = #{id => storm, start => {supervisor, start_link, [?MODULE, {storm, Cfg}]},
              type => supervisor},
    AB = #{id => ab, start => {supervisor, start_link, [?MODULE, {ab, maps:get(probe, Cfg)}]},
           type => supervisor},
    {ok, {flags(one_for_one), [Storm, AB]}};
init({storm, #{strategy := simple_one_for_one, reporter := Reporter}}) ->
    {ok, {flags(simple_one_for_one), [worker_spec(worker, Reporter)]}};
init({storm, #{strategy := one_for_one, n := N, reporter := Reporter}}) ->
    {ok, {flags(one_for_one), [worker_spec(I, Reporter) || I <- lists:seq(1, N)]}};
init({ab, Probe}) ->
    Member = fun(Who) -> #{id => Who, start => {?MODULE, start_member, [Who, Probe]}} end,
    {ok, {flags(one_for_all), [Member(a), Member(b)]}}.

flags(Strategy) -> #{strategy => Strategy, intensity => ?INTENSITY, period => 1}.

worker_spec(Id, Reporter) ->
    #{id => Id, start => {?MODULE, start_worker, [Reporter]}, restart => permanent,
      type => worker}.

%% A storm worker: reports its start, then dies on command.
start_worker(Reporter) -> {ok, proc_lib:spawn_link(?MODULE, worker, [Reporter])}.

worker(Reporter) ->
    report(Reporter),
    receive die -> exit(killed_on_command) end.

%% a or b of the group: tells the probe it started; b tells it when it dies.
start_member(Who, Probe) -> {ok, proc_lib:spawn_link(?MODULE, member, [Who, Probe])}.

member(Who, Probe) ->
    Probe ! {entered, Who, now_ns(), self()},
    receive
        die ->
            Probe ! {died, now_ns()},
            exit(killed_on_command)
    end.

%% Counting the starts of storm workers.
reporter(#{report := collector}) ->
    Harness = self(),
    {collector, proc_lib:spawn_link(fun() -> collector_idle(Harness) end)};
reporter(#{report := atomic}) ->
    {atomic, atomics:new(2, []), self()}.

report({collector, Collector}) ->
    Collector ! {up, now_ns()};
report({atomic, Counts, Harness}) ->
    %% Slot 1 counts starts, slot 2 is the count that ends the current storm.
    case atomics:add_get(Counts, 1, 1) =:= atomics:get(Counts, 2) of
        true -> Harness ! {reached, now_ns()};
        false -> ok
    end.

%% The harness is told {reached, Time} once N more starts than now have been reported.
arm({collector, Collector}, N) ->
    Collector ! {arm, N},
    receive {armed, Collector} -> ok end;
arm({atomic, Counts, _}, N) ->
    atomics:put(Counts, 2, atomics:get(Counts, 1) + N).

collector_idle(Harness) ->
    receive
        {arm, N} ->
            Harness ! {armed, self()},
            collector_count(Harness, N, none)
    end.

%% The time of the latest start: when all had started.
collector_count(Harness, 0, Latest) ->
    Harness ! {reached, Latest},
    collector_idle(Harness);
collector_count(Harness, Left, Latest) ->
    receive
        {up, T} when Latest =:= none; T > Latest -> collector_count(Harness, Left - 1, T);
        {up, _} -> collector_count(Harness, Left - 1, Latest)
    end.

await_reached(Limit, N) ->
    receive {reached, T} -> T after Limit -> error({not_all_restarted, N, Limit}) end.

%% The probe: idle until told to go, then kills b again and again until told to stop.
probe_start(Harness, Limit) ->
    {_, _, B} = both_started(Limit, undefined, undefined, undefined),
    Harness ! {probe_ready, self()},
    probe_idle(Limit, B).

probe_idle(Limit, B) ->
    receive {go, From} -> probe_run(Limit, B, From, []) end.

probe_run(Limit, B, From, Acc0) ->
    B ! die,
    Died = receive {died, T} -> T after Limit -> error(b_did_not_die) end,
    {Ta, Tb, NewB} = both_started(Limit, undefined, undefined, undefined),
    Acc = [{Ta - Died, Tb - Died} | Acc0],
    receive
        stop ->
            From ! {samples, self(), Acc},
            probe_idle(Limit, NewB)
    after 0 ->
        probe_run(Limit, NewB, From, Acc)
    end.

both_started(_Limit, Ta, Tb, B) when is_integer(Ta), is_integer(Tb) ->
    {Ta, Tb, B};
both_started(Limit, Ta, Tb, B) ->
    receive
        {entered, a, T, _} -> both_started(Limit, T, Tb, B);
        {entered, b, T, Pid} -> both_started(Limit, Ta, T, Pid)
    after Limit -> error(a_and_b_not_restarted)
    end.

%% Helpers.
now_ns() -> erlang:monotonic_time(nanosecond).

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        Value -> list_to_integer(string:trim(Value))
    end.

%% Nearest rank: sorted[floor(P * (n - 1))], counting from 0.
pct(P, L) -> lists:nth(trunc(P * (length(L) - 1)) + 1, lists:sort(L)).

median(L) -> lists:nth((length(L) - 1) div 2 + 1, lists:sort(L)).

result(Name, Value, Unit) -> io:format("RESULT ~s=~.3f ~s~n", [Name, float(Value), Unit]).

comment(Format, Args) -> io:format("# " ++ Format ++ "~n", Args).
