<?php
// Runs the real chat2desksend activity (as installed by `chat2desk-b24 bizproc install`) on
// the stand-in runtime against the real daemon and the portal simulator on loopback.
//   php activity_test.php MODE ACTIVITY_DIR PORTAL_URL CHAT2DESK_URL CHANNEL_ID LEAD_ID
// MODE: sent | refused | timeout | daemon_down | unauthorized. Exit 0 = every check passed.
require __DIR__ . '/bitrix_standin.php';
require __DIR__ . '/bitrix_standin_ns.php';

[, $mode, $dir, $portal, $chat2desk, $channel, $lead] = $argv;
$failures = 0;

function check(bool $ok, string $what)
{
    global $failures;
    echo ($ok ? 'ok    ' : 'FAIL  ') . $what . "\n";
    if (!$ok) {
        $failures++;
    }
}

standin_load_lang($dir);
include $dir . '/.description.php';
check($arActivityDescription['CLASS'] === 'Chat2DeskSend', '.description.php names the class');
check($arActivityDescription['TYPE'] === ['activity', 'robot_activity'], 'activity and robot');
check($arActivityDescription['NAME'] === 'Написать сообщение на номер', 'Russian name');
check(array_keys($arActivityDescription['RETURN']) === ['Sent', 'MessageId', 'Error'], 'return values');
require $dir . '/chat2desksend.php';

/** Polls the portal simulator until the daemon completed the workflow waiting on $token. */
function completion(string $portal, string $token): ?array
{
    for ($i = 0; $i < 300; $i++) {
        $state = json_decode(file_get_contents($portal . '/_sim/state'), true);
        foreach ($state['workflows'] as $w) {
            if ($w['event_token'] === $token && $w['completed'] !== null) {
                return $w['completed'];
            }
        }
        usleep(50000);
    }
    return null;
}

/** A workflow of the lead with one configured activity. */
function activity(string $portal, string $channel, string $lead, string $phone): array
{
    $workflow = new StandinWorkflow(['crm', 'CCrmDocumentLead', 'LEAD_' . $lead], $portal);
    $activity = new CBPChat2DeskSend('A' . random_int(10000, 99999) . '_1');
    $activity->workflow = $workflow;
    $activity->ChannelId = $channel;
    $activity->Phone = $phone;
    $activity->MessageText = 'Здравствуйте! Это сообщение из бизнес-процесса.';
    $activity->Files = ["https://files.example.com/plan.jpg\n", 'https://files.example.com/price.xlsx'];
    return [$workflow, $activity];
}

/** Runs Execute; on Executing waits for the portal to get the result and delivers it. */
function run_to_end(string $portal, StandinWorkflow $workflow, CBPChat2DeskSend $activity): int
{
    $status = $activity->Execute();
    if ($status !== CBPActivityExecutionStatus::Executing) {
        return $status;
    }
    $token = CBPRestActivity::$issued[$workflow->GetInstanceId() . '|' . $activity->GetName()];
    $event = completion($portal, $token);
    if ($event === null) {
        return -1;
    }
    // bizproc.event.send: the event id is the token's third part, before the signature.
    $eventId = explode('.', explode('|', $token)[2])[0];
    $workflow->SendExternalEvent($activity->GetName(), [
        'EVENT_ID' => $eventId,
        'RETURN_VALUES' => $event['RETURN_VALUES'],
        'LOG_MESSAGE' => $event['LOG_MESSAGE'],
    ]);
    return $activity->executionStatus;
}

switch ($mode) {
    case 'sent':
        [$workflow, $activity] = activity($portal, $channel, $lead, '+7 (960) 794-04-01');
        $status = run_to_end($portal, $workflow, $activity);
        check($status === CBPActivityExecutionStatus::Closed, 'closed after the result');
        check($activity->Sent === 'Y', 'Sent = Y');
        check(ctype_digit($activity->MessageId), 'MessageId is the Chat2Desk id: ' . $activity->MessageId);
        check($activity->Error === '', 'no error');
        check(empty($workflow->handlers[$activity->GetName()]), 'unsubscribed');
        check(empty($workflow->scheduler->subscriptions), 'timeout subscription removed');
        $log = implode("\n", array_column($workflow->tracking, 1));
        check(strpos($log, 'отправлено') !== false, 'tracking log has the daemon\'s message');
        // A second event for the closed activity changes nothing.
        $workflow->SendExternalEvent($activity->GetName(), ['EVENT_ID' => 'x', 'RETURN_VALUES' => ['sent' => 'N']]);
        check($activity->Sent === 'Y', 'a stale event is ignored');
        // The designer's channel list comes live from the daemon.
        $map = (new ReflectionMethod('CBPChat2DeskSend', 'getPropertiesMap'));
        $map->setAccessible(true);
        $fields = $map->invoke(null);
        check($fields['ChannelId']['Type'] === 'select' && isset($fields['ChannelId']['Options'][$channel]), 'channel list from GET /bizproc/channels');
        check($fields['Phone']['Default'] === '{=Document:PHONE}', 'phone defaults to the document phone');
        break;
    case 'refused':
        standin_post($chat2desk . '/_sim/write_first', 'enabled=0');
        [$workflow, $activity] = activity($portal, $channel, $lead, '+7 999 000-11-22');
        $status = run_to_end($portal, $workflow, $activity);
        standin_post($chat2desk . '/_sim/write_first', 'enabled=1');
        check($status === CBPActivityExecutionStatus::Closed, 'closed after the result');
        check($activity->Sent === 'N', 'Sent = N');
        check(strpos($activity->Error, 'Писать первым') !== false, 'Error says why: ' . $activity->Error);
        $errors = array_filter($workflow->tracking, function ($t) {
            return $t[0] === CBPTrackingType::Error;
        });
        check(count($errors) === 1, 'the failure is in the tracking log as an error');
        break;
    case 'timeout':
        [$workflow, $activity] = activity($portal, $channel, $lead, '+7 (960) 794-04-01');
        check($activity->Execute() === CBPActivityExecutionStatus::Executing, 'waits for the result');
        check(count($workflow->scheduler->subscriptions) === 1, 'with a timeout');
        $activity->OnExternalEvent(['SchedulerService' => 'OnAgent']);
        check($activity->executionStatus === CBPActivityExecutionStatus::Closed, 'the timeout closes it');
        check($activity->Sent === 'N' && $activity->Error !== '', 'Sent = N with an error');
        break;
    case 'daemon_down':
    case 'unauthorized':
        [$workflow, $activity] = activity($portal, $channel, $lead, '+7 (960) 794-04-01');
        $started = microtime(true);
        $status = $activity->Execute();
        check($status === CBPActivityExecutionStatus::Closed, 'fails at once instead of waiting');
        check(microtime(true) - $started < 12, 'within the HTTP timeouts');
        check($activity->Sent === 'N', 'Sent = N');
        $expected = $mode === 'unauthorized' ? 'HTTP 401' : 'не принял';
        check(strpos($activity->Error, $expected) !== false, 'Error says why: ' . $activity->Error);
        check(empty($workflow->handlers), 'nothing subscribed');
        if ($mode === 'daemon_down') {
            $map = (new ReflectionMethod('CBPChat2DeskSend', 'getPropertiesMap'));
            $map->setAccessible(true);
            check($map->invoke(null)['ChannelId']['Type'] === 'string', 'channel is a plain field when the daemon is down');
        }
        break;
    default:
        check(false, "unknown mode $mode");
}
exit($failures === 0 ? 0 : 1);
